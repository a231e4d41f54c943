// Partial sums through the memtile, through code generation and lock chains.
// RUN: bsir-opt %s -p 'convert-tg-to-tiling{grid=2x2},tiling-color-memtiles,convert-tiling-to-aie2,aie2-form-lock-chains' | filecheck %s

// InceptionV3's Mixed_6e 1x7 convolution (17x17, 192 -> 192) on 2x2: each core's 48
// output channels carry 63 KiB of weights, more than its 16 KiB buffer, so it runs four
// input-channel chunks of 48 channels weight-stationary (one LOADWDM per chunk); the
// int32 partial sums of its 17x17x48 block (55 KiB) do not fit its output buffers and
// scratch, so they go to a memtile scratch between chunks (cin_split = 2): the first
// chunk writes them there, the middle ones read and write them, the last reads them
// with its input and writes the output.
// CHECK: aie2.layer "conv" {split = #tiling.split<mode = "cout"{{.*}}cin = 48{{.*}}cin_split = 2>{{.*}}scratch = [[[SUMS:[0-9]+]], 110976]>
// CHECK: aie2.loadwdm once {{.*}}bytes 16128 iter 1 repeat 4
// CHECK: aie2.loadfm body.first acquire 0 release 1 memtile 0 core 0 bytes 1104 extent 29376 stride 1728 iter 17 repeat 1{{$}}
// CHECK: aie2.writefm body.first acquire 2 release 0 memtile [[SUMS]] core 16384 bytes 3264 extent 110976 stride 55488
// CHECK: aie2.loadfm body.middle {{.*}}bytes 4368 {{.*}}repeat 2 sums [[SUMS]]
// CHECK: aie2.writefm body.middle {{.*}}memtile [[SUMS]]
// CHECK: aie2.loadfm body.last {{.*}} sums [[SUMS]]
// CHECK: aie2.writefm body.last {{.*}}memtile [[OUT:[0-9]+]] core 16384 bytes 816
// CHECK: aie2.write ddr memtile [[OUT]]

builtin.module attributes {tg.weights = "w.npz"} {
  tg.graph @g(%x: tensor<1x17x17x192xf32>) -> (tensor<1x17x17x192xf32>) {
    %w = tg.weight "conv.weight" : tensor<192x1x7x192xf32>
    %c = tg.conv2d %x, %w {stride = array<i64: 1, 1>, pad = array<i64: 0, 3, 0, 3>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x17x17x192xf32>, tensor<192x1x7x192xf32>) -> tensor<1x17x17x192xf32>
    tg.output %c : tensor<1x17x17x192xf32>
  }
}
