// Partial sums through the memtile, through code generation and lock chains.
// RUN: bsir-opt %s -p 'convert-tg-to-tiling{grid=2x2},tiling-color-memtiles,convert-tiling-to-aie2,aie2-form-lock-chains' | filecheck %s

// InceptionV3's Mixed_6b 1x1 branch (17x17, 768 -> 192) on 2x2: each core's 48 output
// channels carry 36 KiB of weights, more than its 16 KiB buffer, so it runs three
// input-channel chunks of 256 channels weight-stationary (one LOADWDM per chunk); the
// int32 partial sums of its 17x17x48 block are too many for its scratch, so they go to a
// memtile scratch between chunks (cin_split = 2): the first chunk writes them there, the
// middle one reads and writes them, the last reads them with its input and writes the
// output.
// CHECK: aie2.layer "conv" {split = #tiling.split<mode = "cout"{{.*}}cin = 256{{.*}}cin_split = 2>{{.*}}scratch = [[[SUMS:[0-9]+]], 110976]>
// CHECK: aie2.loadwdm once {{.*}}bytes 12288 iter 1 repeat 3
// CHECK: aie2.loadfm body.first acquire 0 release 1 memtile 0 core 0 bytes 4352 extent 117504 stride 6912 iter 17 repeat 1{{$}}
// CHECK: aie2.writefm body.first acquire 2 release 0 memtile [[SUMS]] core 16384 bytes 3264 extent 110976 stride 55488
// CHECK: aie2.loadfm body.middle {{.*}}bytes 7616 {{.*}} sums [[SUMS]]
// CHECK: aie2.writefm body.middle {{.*}}memtile [[SUMS]]
// CHECK: aie2.loadfm body.last {{.*}} sums [[SUMS]]
// CHECK: aie2.writefm body.last {{.*}}memtile [[OUT:[0-9]+]] core 16384 bytes 816
// CHECK: aie2.write ddr memtile [[OUT]]

builtin.module attributes {tg.weights = "w.npz"} {
  tg.graph @g(%x: tensor<1x17x17x768xf32>) -> (tensor<1x17x17x192xf32>) {
    %w = tg.weight "conv.weight" : tensor<192x1x1x768xf32>
    %c = tg.conv2d %x, %w {stride = array<i64: 1, 1>, pad = array<i64: 0, 0, 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x17x17x768xf32>, tensor<192x1x1x768xf32>) -> tensor<1x17x17x192xf32>
    tg.output %c : tensor<1x17x17x192xf32>
  }
}
