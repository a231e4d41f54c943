// A weight read as data — a table added to an activation, not a layer's parameters —
// is an activation held in DDR from the start, as a graph input: convert-tg-to-tiling
// maps the addition with it as a second streamed input (here once fused into the
// convolution before it as its residual, once as an addition of its own) and moves
// the weight before the first layer that reads it; memory coloring loads it from DDR
// where a layer needs it, beside the graph's input.
// RUN: bsir-opt %s -p 'convert-tg-to-tiling{grid=2x2}' | filecheck %s
// RUN: bsir-opt %s -p 'convert-tg-to-tiling{grid=2x2},tiling-color-memtiles,convert-tiling-to-aie2,aie2-form-lock-chains' | filecheck %s --check-prefix=AIE2

builtin.module attributes {tg.weights = "w.npz"} {
  tg.graph @g(%x: tensor<1x8x8x16xf32>) -> (tensor<1x8x8x16xf32>) {
    %w = tg.weight "conv.weight" : tensor<16x1x1x16xf32>
    %c = tg.conv2d %x, %w {stride = array<i64: 1, 1>, pad = array<i64: 0, 0, 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x8x8x16xf32>, tensor<16x1x1x16xf32>) -> tensor<1x8x8x16xf32>
    %t = tg.weight "table" : tensor<1x8x8x16xf32>
    %s = tg.add %c, %t : (tensor<1x8x8x16xf32>, tensor<1x8x8x16xf32>) -> tensor<1x8x8x16xf32>
    %p = tg.maxpool2d %s {kernel = array<i64: 1, 1>, stride = array<i64: 1, 1>, pad = array<i64: 0, 0, 0, 0>} : (tensor<1x8x8x16xf32>) -> tensor<1x8x8x16xf32>
    %u = tg.add %p, %t : (tensor<1x8x8x16xf32>, tensor<1x8x8x16xf32>) -> tensor<1x8x8x16xf32>
    tg.output %u : tensor<1x8x8x16xf32>
  }
}

// CHECK: %t = tg.weight "table"
// CHECK-NEXT: %s = tiling.layer "conv"
// CHECK-NEXT: %c = tg.conv2d %x, %w
// CHECK-NEXT: %s_1 = tg.add %c, %t
// CHECK: tiling.transfer {kind = "to_cores", tensor = "input0"
// CHECK-NEXT: tiling.transfer {kind = "to_cores", tensor = "input1"
// CHECK: %u = tiling.layer "add_5"
// CHECK-NEXT: %u_1 = tg.add %p, %t
// CHECK-NEXT: tiling.transfer {kind = "to_cores", tensor = "input0"
// CHECK-NEXT: tiling.transfer {kind = "to_cores", tensor = "input1"

// The convolution's layer loads the graph's input and the table from DDR.
// AIE2: aie2.layer "conv"
// AIE2: tg.add %c, %t
// AIE2-NEXT: aie2.load ddr memtile 0 bytes 512 iter 1
// AIE2-NEXT: aie2.load ddr memtile 512 bytes 512 iter 1
// AIE2: aie2.layer "add_5"
