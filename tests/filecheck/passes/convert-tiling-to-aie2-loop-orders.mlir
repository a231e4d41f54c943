// The loop orders beyond the W/COUT splits, through code generation and lock chains
// (partial sums through the memtile: convert-tiling-to-aie2-sums-in-memtile.mlir; in
// the core, column chunks outside the chunk loop: convert-tiling-to-aie2-sums-in-core.mlir).
// RUN: bsir-opt %s --split-input-file -p 'convert-tg-to-tiling{grid=4x4},tiling-color-memtiles,convert-tiling-to-aie2,aie2-form-lock-chains' | filecheck %s

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

// -----

// A 7x1 convolution on 17x17 over 160 channels on 4x4 (InceptionV3's Mixed_6 shape):
// split by channels (40 a column, 10 a core), weight-stationary over two chunks of 80
// input channels with the sums in the core and the column chunks inside the chunk loop
// (cin_split = 4): each chunk's weights load once (LOADWDM repeat 2, not once per
// column), and the core's 17 one-column tiles, each all 17 rows high (23 with the
// padding, so no input row is read twice), stream through them as one group of 17
// overlapped iterations, their int32 sums in 17 slots.
// CHECK: aie2.layer "conv" {split = #tiling.split<mode = "cout"{{.*}}subvolume = #tiling.subvolume<h = 17, w = 1, cout = 10, cin = 80, in_h = 23, in_w = 1,{{.*}}cin_split = 4>
// CHECK: aie2.loadwdm once {{.*}}bytes 5600 iter 1 repeat 2{{$}}
// CHECK: aie2.loadfm body.first {{.*}}bytes 1360 {{.*}}iter 17 repeat 1{{$}}
// CHECK: aie2.comp body.first acquire 1 release 0 {{.*}}iter 17 repeat 1 sums 16384
// CHECK-NOT: aie2.writefm body.first
// CHECK: aie2.comp body.last acquire 1 release 2 {{.*}}iter 17 repeat 1 sums 16384
// CHECK: aie2.writefm body.last acquire 2 release 0 {{.*}}bytes 170 {{.*}}iter 17 repeat 1{{$}}

builtin.module attributes {tg.weights = "w.npz"} {
  tg.graph @g(%x: tensor<1x17x17x160xf32>) -> (tensor<1x17x17x160xf32>) {
    %w = tg.weight "conv.weight" : tensor<160x7x1x160xf32>
    %c = tg.conv2d %x, %w {stride = array<i64: 1, 1>, pad = array<i64: 3, 0, 3, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x17x17x160xf32>, tensor<160x7x1x160xf32>) -> tensor<1x17x17x160xf32>
    tg.output %c : tensor<1x17x17x160xf32>
  }
}
