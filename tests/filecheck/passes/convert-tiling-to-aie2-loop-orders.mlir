// The two loop orders beyond the W/COUT splits, through code generation and lock chains.
// RUN: bsir-opt %s --split-input-file -p 'convert-tg-to-tiling{grid=4x4},tiling-color-memtiles,convert-tiling-to-aie2,aie2-form-lock-chains' | filecheck %s

// A 3x3 convolution over 256 channels on 4x4: each core's 16 output channels carry
// 36 KiB of weights, more than its 16 KiB buffer, so it runs three input-channel chunks
// of 88 channels weight-stationary (one LOADWDM per chunk) and keeps the int32 partial
// sums of its 14x14x16 block in a memtile scratch between them (cin_split = 2): the
// first chunk writes them there, the middle one reads and writes them, the last reads
// them with its input and writes the output.
// CHECK: aie2.layer "conv" {split = #tiling.split<mode = "cout"{{.*}}cin = 88{{.*}}cin_split = 2>{{.*}}scratch = [[[SUMS:[0-9]+]], 50176]>
// CHECK: aie2.loadwdm once {{.*}}bytes 12672 iter 1 repeat 3
// CHECK: aie2.loadfm head.first acquire 0 release 1 memtile 0 core 0 bytes 4224
// CHECK-NOT: sums
// CHECK: aie2.writefm head.first acquire 2 release 0 memtile [[SUMS]] core 16384 bytes 1792 extent 50176 stride 12544
// CHECK: aie2.loadfm head.middle {{.*}}bytes 6016 {{.*}} sums [[SUMS]]
// CHECK: aie2.writefm head.middle {{.*}}memtile [[SUMS]]
// CHECK: aie2.loadfm head.last {{.*}} sums [[SUMS]]
// CHECK: aie2.writefm head.last {{.*}}memtile [[OUT:[0-9]+]] core 16384 bytes 448
// CHECK: aie2.loadfm body.first {{.*}}iter 5
// CHECK: aie2.writefm tail.last {{.*}}memtile [[OUT]]

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
// CHECK: aie2.layer "conv" {split = #tiling.split<mode = "h", cols = [0, 14, 28, 42, 56], rows = [0, 14, 28, 42, 56]>
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
