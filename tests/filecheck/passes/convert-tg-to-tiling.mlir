// convert-tg-to-tiling on hand-written layers: the least-cost split (COUT across columns
// and rows: 8 channels a core) and loop order (two chunks of 8 input channels, each
// loaded once, the core's two 6-column tiles, all 12 rows high, streaming through each
// with their int32 sums in the core: cin_split = 4), the fused ReLU inside the layer,
// transfers with iteration counts.
// RUN: bsir-opt %s -p 'convert-tg-to-tiling{grid=2x2}' | filecheck %s
// RUN: bsir-opt %s -p 'convert-tg-to-tiling{grid=2x2}' | bsir-opt | filecheck %s
// RUN: bsir-opt %s -p 'convert-tg-to-tiling{grid=1x3 memtiles=separate}' 2>&1 | filecheck %s --check-prefix=SEP
// RUN: bsir-opt %s -p 'convert-tg-to-tiling{grid=3x3 row-parts=false}' | filecheck %s --check-prefix=UNEVEN

builtin.module attributes {tg.weights = "w.npz"} {
  tg.graph @g(%x: tensor<1x12x12x16xf32>) -> (tensor<1x12x12x32xf32>) {
    %w = tg.weight "conv.weight" : tensor<32x3x3x16xf32>
    %b = tg.weight "conv.bias" : tensor<32xf32>
    %c = tg.conv2d %x, %w, %b {stride = array<i64: 1, 1>, pad = array<i64: 1, 1, 1, 1>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x12x12x16xf32>, tensor<32x3x3x16xf32>, tensor<32xf32>) -> tensor<1x12x12x32xf32>
    %r = tg.relu %c : (tensor<1x12x12x32xf32>) -> tensor<1x12x12x32xf32>
    tg.output %r : tensor<1x12x12x32xf32>
  }
}

// CHECK: builtin.module attributes {tg.weights = "w.npz", tiling.array = #tiling.array<array_name = "aie2-2x2", rows = 2, cols = 2, memtile_bytes = 524288, memtile_mode = "shared"
// CHECK: %[[L:.*]] = tiling.layer "conv" {split = #tiling.split<mode = "cout", cols = [0, 16, 32], rows = [0, 8, 16], parts = 1>, subvolume = #tiling.subvolume<h = 12, w = 6, cout = 8, cin = 8, in_h = 14, in_w = 8, input_bytes = 896, output_bytes = 576, weight_bytes = 608, iterations = 4, weight_loads = 2, weights_moved = 1216, macs = 41472, cin_split = 4>, ddr = #tiling.ddr<h_passes = 1, cout_passes = 1>}
// CHECK-NEXT: %[[C:.*]] = tg.conv2d %x, %w, %b
// CHECK-NEXT: %[[R:.*]] = tg.relu %[[C]]
// CHECK-NEXT: tiling.transfer {kind = "loadw", tensor = "weights", bytes = 2368 : i64, count = 1 : i64}
// CHECK-NEXT: tiling.transfer {kind = "to_cores", tensor = "input0", bytes = 896 : i64, count = 4 : i64}
// CHECK-NEXT: tiling.transfer {kind = "weights_to_cores", tensor = "weights", bytes = 608 : i64, count = 2 : i64}
// CHECK-NEXT: tiling.compute {macs = 41472 : i64, count = 4 : i64, macs_total = 663552 : i64}
// CHECK-NEXT: tiling.transfer {kind = "from_cores", tensor = "output", bytes = 576 : i64, count = 2 : i64}
// CHECK-NEXT: tiling.yield %[[R]] : tensor<1x12x12x32xf32>
// CHECK: tg.output %[[L]]

// Separate memtiles on 3 columns: memtile 1 alone holds weights, all 4,736 bytes.
// SEP: mode = "separate"
// SEP: tiling.transfer {kind = "loadw", tensor = "weights", bytes = 4736 : i64

// 12 columns over 3 and 32 channels over 3 rows: 11 + 11 + 10.
// UNEVEN: split = #tiling.split<mode = "w", cols = [0, 4, 8, 12], rows = [0, 11, 22, 32], parts = 1>
