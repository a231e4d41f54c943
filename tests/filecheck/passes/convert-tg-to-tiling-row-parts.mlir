// convert-tg-to-tiling may split a layer's output rows over the core rows as well as its
// channels: on 4x4 this 56x56 3x3 convolution maps with its output columns over the 4
// columns (14 each) and the 4 rows as 2 row parts of 2 channel slices (parts = 2): a
// core computes 28 output rows x 14 columns x 32 channels, reading 29 of the 56 input
// rows a core of the plain W-split (16 channels, every row) reads, for twice the weights.
// Each core runs the same program on its own 28 rows: one body group of full row
// blocks, no head or tail. row-parts=false maps with the paper's splits only.
// RUN: bsir-opt %s -p 'convert-tg-to-tiling{grid=4x4}' | filecheck %s
// RUN: bsir-opt %s -p 'convert-tg-to-tiling{grid=4x4}' | bsir-opt | filecheck %s
// RUN: bsir-opt %s -p 'convert-tg-to-tiling{grid=4x4},tiling-color-memtiles,convert-tiling-to-aie2,aie2-form-lock-chains' | filecheck %s --check-prefix=PROGRAM
// RUN: bsir-opt %s -p 'convert-tg-to-tiling{grid=4x4 row-parts=false}' | filecheck %s --check-prefix=PAPER

builtin.module attributes {tg.weights = "w.npz"} {
  tg.graph @g(%x: tensor<1x56x56x64xf32>) -> (tensor<1x56x56x64xf32>) {
    %w = tg.weight "conv.weight" : tensor<64x3x3x64xf32>
    %c = tg.conv2d %x, %w {stride = array<i64: 1, 1>, pad = array<i64: 1, 1, 1, 1>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x56x56x64xf32>, tensor<64x3x3x64xf32>) -> tensor<1x56x56x64xf32>
    tg.output %c : tensor<1x56x56x64xf32>
  }
}

// CHECK: tiling.layer "conv" {split = #tiling.split<mode = "w", cols = [0, 14, 28, 42, 56], rows = [0, 32, 64, 64, 64], parts = 2>

// PROGRAM: aie2.layer "conv"
// PROGRAM-NOT: head
// PROGRAM: aie2.loadfm body.first {{.*}} iter 2 repeat 2
// PROGRAM-NOT: tail
// PROGRAM: tiling.yield

// PAPER: tiling.layer "conv" {split = #tiling.split<mode = "w", cols = [0, 14, 28, 42, 56], rows = [0, 16, 32, 48, 64], parts = 1>
