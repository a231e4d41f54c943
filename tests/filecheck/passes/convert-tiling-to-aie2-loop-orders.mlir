// The loop orders beyond the W/COUT splits, through code generation and lock chains
// (partial sums through the memtile: convert-tiling-to-aie2-sums-in-memtile.mlir).
// RUN: bsir-opt %s --split-input-file -p 'convert-tg-to-tiling{grid=4x4},tiling-color-memtiles,convert-tiling-to-aie2,aie2-form-lock-chains' | filecheck %s

// A 3x3 convolution over 256 channels on 4x4 (ResNet50's layer3 shape): each core's
// 14x14x16 block has 12,544 bytes of int32 partial sums, which fit slots in its output
// buffers and scratch: weight-stationary over four chunks of 64 input channels with the
// sums in the core (cin_split = 3), each chunk streaming the core's five 3-row blocks
// (head, 3 body, tail) through its weights. COMP names the first slot (the output
// buffers' start); the chunks before the last write nothing, so their COMP frees the
// input buffer itself (k1 -> k0); the last leaves each tile's int8 result at the start
// of its slot, where WRITEFM takes it.
// CHECK: aie2.layer "conv" {split = #tiling.split<mode = "cout"{{.*}}cin = 64{{.*}}cin_split = 3>{{.*}}scratch = [-1, 0]>
// CHECK: aie2.loadwdm once {{.*}}bytes 9216 iter 1 repeat 4
// CHECK: aie2.loadfm head.first acquire 0 release 1 memtile 0 core 0 bytes 4096 extent 14336 stride 1024 iter 1 repeat 1{{$}}
// CHECK: aie2.comp head.first acquire 1 release 0 macs 387072 iter 1 repeat 1 sums 16384
// CHECK-NOT: aie2.writefm head.first
// CHECK: aie2.comp head.middle acquire 1 release 0 {{.*}}repeat 2 sums 16384
// CHECK-NOT: aie2.writefm head.middle
// CHECK: aie2.comp head.last acquire 1 release 2 {{.*}}sums 16384
// CHECK: aie2.writefm head.last acquire 2 release 0 {{.*}}bytes 672
// CHECK: aie2.comp body.first acquire 1 release 0 macs 387072 iter 3 repeat 1 sums 16384
// CHECK: aie2.writefm tail.last

builtin.module attributes {tg.weights = "w.npz"} {
  tg.graph @g(%x: tensor<1x14x14x256xf32>) -> (tensor<1x14x14x256xf32>) {
    %w = tg.weight "conv.weight" : tensor<256x3x3x256xf32>
    %c = tg.conv2d %x, %w {stride = array<i64: 1, 1>, pad = array<i64: 1, 1, 1, 1>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x14x14x256xf32>, tensor<256x3x3x256xf32>) -> tensor<1x14x14x256xf32>
    tg.output %c : tensor<1x14x14x256xf32>
  }
}

// -----

// A 1x1 convolution from 256 channels on 4x4 (ResNet50's layer1.1.conv1): split over
// columns by width and over rows by output rows (mode "h"), every core computes all 64
// channels of its 14x14 block from its own 14x14x256 input, so each input byte
// reaches one core; one group of full row blocks (no head or tail).
// CHECK: aie2.layer "conv" {split = #tiling.split<mode = "h", cols = [0, 14, 28, 42, 56], rows = [0, 14, 28, 42, 56], parts = 1>
// CHECK-NOT: aie2.loadfm head
// CHECK: aie2.loadfm body
// CHECK-NOT: aie2.loadfm tail
// CHECK: aie2.writefm body

builtin.module attributes {tg.weights = "w.npz"} {
  tg.graph @g(%x: tensor<1x56x56x256xf32>) -> (tensor<1x56x56x64xf32>) {
    %w = tg.weight "conv.weight" : tensor<64x1x1x256xf32>
    %c = tg.conv2d %x, %w {stride = array<i64: 1, 1>, pad = array<i64: 0, 0, 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x56x56x256xf32>, tensor<64x1x1x256xf32>) -> tensor<1x56x56x64xf32>
    tg.output %c : tensor<1x56x56x64xf32>
  }
}
