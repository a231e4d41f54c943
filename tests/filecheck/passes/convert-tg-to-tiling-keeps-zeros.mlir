// convert-tg-to-tiling on a block-sparse layer (7 of its 8 blocks kept) that runs faster
// with its zeros on 8 core rows: its 32 output channels are 4 block rows, which would
// leave half the rows idle; dense, the channels spread over all 8. The layer is marked
// keeps_zeros (tiling-compact-weights leaves it alone). On 2x2, compaction pays: no mark.
// With the core rows also splitting output rows (the default) the zeros still pay: four
// row parts of two rows, each row 2 dense channels of its column's 4.
// RUN: bsir-opt %s -p 'convert-tg-to-tiling{grid=8x8 row-parts=false}' | filecheck %s
// RUN: bsir-opt %s -p 'convert-tg-to-tiling{grid=8x8 row-parts=false}' | bsir-opt | filecheck %s
// RUN: bsir-opt %s -p 'convert-tg-to-tiling{grid=8x8}' | filecheck %s --check-prefix=PARTS
// RUN: bsir-opt %s -p 'convert-tg-to-tiling{grid=2x2}' | filecheck %s --check-prefix=PACKED

builtin.module attributes {tg.weights = "w.npz"} {
  tg.graph @g(%x: tensor<1x8x8x16xf32>) -> (tensor<1x8x8x32xf32>) {
    %w = tg.weight "conv.weight" : tensor<32x3x3x16xf32>
    %b = tg.weight "conv.bias" : tensor<32xf32>
    %c = tg.conv2d %x, %w, %b {stride = array<i64: 1, 1>, pad = array<i64: 1, 1, 1, 1>, dilation = array<i64: 1, 1>, groups = 1 : i64, sparsity = #tg.sparsity<block = [8, 8], grid = [4, 2], mask = "fe">} : (tensor<1x8x8x16xf32>, tensor<32x3x3x16xf32>, tensor<32xf32>) -> tensor<1x8x8x32xf32>
    tg.output %c : tensor<1x8x8x32xf32>
  }
}

// CHECK: tiling.layer "conv" {split = #tiling.split<mode = "w", cols = [0, 1, 2, 3, 4, 5, 6, 7, 8], rows = [0, 4, 8, 12, 16, 20, 24, 28, 32], parts = 1>
// CHECK-SAME: cout = 4,
// CHECK-SAME: keeps_zeros}

// PARTS: tiling.layer "conv" {split = #tiling.split<mode = "cout", cols = [0, 4, 8, 12, 16, 20, 24, 28, 32], rows = [0, 2, 4, 4, 4, 4, 4, 4, 4], parts = 4>
// PARTS-SAME: cout = 2,
// PARTS-SAME: keeps_zeros}

// PACKED: tiling.layer "conv"
// PACKED-NOT: keeps_zeros
// PACKED: tiling.yield
