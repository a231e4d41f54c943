// convert-tiling-to-aie2 + aie2-form-lock-chains on the weight-stationary loop order over
// input-channel chunks with the partial sums in the core (cin_split = 3), its mapping
// given at the tiling level.
// RUN: bsir-opt %s -p 'tiling-color-memtiles,convert-tiling-to-aie2,aie2-form-lock-chains' | filecheck %s
// RUN: bsir-opt %s -p 'tiling-color-memtiles,convert-tiling-to-aie2,aie2-form-lock-chains' | bsir-opt | filecheck %s

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

builtin.module attributes {tg.weights = "w.npz", tiling.array = #tiling.array<array_name = "aie2-4x4", rows = 4, cols = 4, memtile_bytes = 524288, memtile_mode = "shared", core_memory = 65536, input_buffer = 8192, output_buffer = 8192, weight_buffer = 16384, ddr_channel_gbps = 4.0, ddr_channels_per_memtile = 2, link_gbps = 4.0, macs_per_cycle = 256, clock_ghz = 1.0, locks_per_core = 16, locks_per_memtile = 64, memtile_mm2s = 6, memtile_s2mm = 6, core_mm2s = 2, core_s2mm = 2, shim_mm2s = 2, shim_s2mm = 2, memtile_bds = 48, core_bds = 16>} {
  tg.graph @g(%x: tensor<1x14x14x256xf32>) -> (tensor<1x14x14x256xf32>) {
    %w = tg.weight "conv.weight" : tensor<256x3x3x256xf32>
    %c = tiling.layer "conv" {split = #tiling.split<mode = "cout", cols = [0, 64, 128, 192, 256], rows = [0, 16, 32, 48, 64], parts = 1>, subvolume = #tiling.subvolume<h = 3, w = 14, cout = 16, cin = 64, in_h = 5, in_w = 16, input_bytes = 5120, output_bytes = 672, weight_bytes = 9216, iterations = 20, weight_loads = 4, weights_moved = 36864, macs = 387072, cin_split = 3>, ddr = #tiling.ddr<h_passes = 1, cout_passes = 1>} : tensor<1x14x14x256xf32> {
      %c_1 = tg.conv2d %x, %w {stride = array<i64: 1, 1>, pad = array<i64: 1, 1, 1, 1>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x14x14x256xf32>, tensor<256x3x3x256xf32>) -> tensor<1x14x14x256xf32>
      tiling.transfer {kind = "loadw", tensor = "weights", bytes = 147456 : i64, count = 1 : i64}
      tiling.transfer {kind = "to_cores", tensor = "input0", bytes = 5120 : i64, count = 20 : i64}
      tiling.transfer {kind = "weights_to_cores", tensor = "weights", bytes = 9216 : i64, count = 4 : i64}
      tiling.compute {macs = 387072 : i64, count = 20 : i64, macs_total = 115605504 : i64}
      tiling.transfer {kind = "from_cores", tensor = "output", bytes = 672 : i64, count = 5 : i64}
      tiling.yield %c_1 : tensor<1x14x14x256xf32>
    }
    tg.output %c : tensor<1x14x14x256xf32>
  }
}
