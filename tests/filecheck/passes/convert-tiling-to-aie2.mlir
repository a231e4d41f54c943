// convert-tiling-to-aie2 + aie2-form-lock-chains on one padded convolution mapped onto
// 4x4, its mapping given at the tiling level (output columns over columns, channels
// over rows, 5-row blocks of every input channel): DDR
// loads in parallel, LOADWDM once, then head (top padding), a body of 4 iterations and
// a tail (bottom padding), each LOADFM -> COMP -> WRITEFM on the lock ring k0 -> k1 -> k2 -> k0.
// RUN: bsir-opt %s -p 'tiling-color-memtiles,convert-tiling-to-aie2,aie2-form-lock-chains' | filecheck %s
// RUN: bsir-opt %s -p 'tiling-color-memtiles,convert-tiling-to-aie2,aie2-form-lock-chains' | bsir-opt | filecheck %s
// RUN: not bsir-opt %s -p 'convert-tiling-to-aie2' 2>&1 | filecheck %s --check-prefix=UNPLACED

builtin.module attributes {tg.weights = "w.npz", tiling.array = #tiling.array<array_name = "aie2-4x4", rows = 4, cols = 4, memtile_bytes = 524288, memtile_mode = "shared", core_memory = 65536, input_buffer = 8192, output_buffer = 8192, weight_buffer = 16384, ddr_channel_gbps = 4.0, ddr_channels_per_memtile = 2, link_gbps = 4.0, macs_per_cycle = 256, clock_ghz = 1.0, locks_per_core = 16, locks_per_memtile = 64, memtile_mm2s = 6, memtile_s2mm = 6, core_mm2s = 2, core_s2mm = 2, shim_mm2s = 2, shim_s2mm = 2, memtile_bds = 48, core_bds = 16>} {
  tg.graph @g(%x: tensor<1x28x28x64xf32>) -> (tensor<1x28x28x64xf32>) {
    %w = tg.weight "conv.weight" : tensor<64x3x3x64xf32>
    %c = tiling.layer "conv" {split = #tiling.split<mode = "w", cols = [0, 7, 14, 21, 28], rows = [0, 16, 32, 48, 64], parts = 1>, subvolume = #tiling.subvolume<h = 5, w = 7, cout = 16, cin = 64, in_h = 7, in_w = 9, input_bytes = 4032, output_bytes = 560, weight_bytes = 9216, iterations = 6, weight_loads = 1, weights_moved = 9216, macs = 322560, cin_split = 0>, ddr = #tiling.ddr<h_passes = 1, cout_passes = 1>} : tensor<1x28x28x64xf32> {
      %c_1 = tg.conv2d %x, %w {stride = array<i64: 1, 1>, pad = array<i64: 1, 1, 1, 1>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x28x28x64xf32>, tensor<64x3x3x64xf32>) -> tensor<1x28x28x64xf32>
      tiling.transfer {kind = "loadw", tensor = "weights", bytes = 9216 : i64, count = 1 : i64}
      tiling.transfer {kind = "to_cores", tensor = "input0", bytes = 4032 : i64, count = 6 : i64}
      tiling.transfer {kind = "weights_to_cores", tensor = "weights", bytes = 9216 : i64, count = 1 : i64}
      tiling.compute {macs = 322560 : i64, count = 6 : i64, macs_total = 28901376 : i64}
      tiling.transfer {kind = "from_cores", tensor = "output", bytes = 560 : i64, count = 6 : i64}
      tiling.yield %c_1 : tensor<1x28x28x64xf32>
    }
    tg.output %c : tensor<1x28x28x64xf32>
  }
}

// The input is loaded at its placement (0), the weights beside it; LOADFM reads the
// input buffer (base 0, 448-byte rows: 7 columns x 64 channels per memtile), WRITEFM
// writes the output buffer at the top of the memtile, and the result goes back to DDR
// after the stream.
// CHECK: aie2.layer "conv" {{.*}}placement = #tiling.placement<inputs = [0, 12544], weights = [12544, 9216], output = [[[OUT:[0-9]+]], 12544]{{.*}}locks = #aie2.locks<init = [2, 0, 0]>} : tensor<1x28x28x64xf32> {
// CHECK-NEXT: tg.conv2d
// CHECK-NEXT: aie2.load ddr memtile 0 bytes 12544 iter 1
// CHECK-NEXT: aie2.loadw ddr memtile 12544 bytes 9216 iter 1
// CHECK-NEXT: aie2.loadwdm once memtile 12544 core 32768 bytes 9216 iter 1 repeat 1
// CHECK-NEXT: aie2.loadfm head acquire 0 release 1 memtile 0 core 0 bytes 3456 extent 12544 stride 448 iter 1 repeat 1
// CHECK-NEXT: aie2.comp head acquire 1 release 2 macs 322560 iter 1 repeat 1
// CHECK-NEXT: aie2.writefm head acquire 2 release 0 memtile [[OUT]] core 16384 bytes 560 extent 12544 stride 448 iter 1 repeat 1
// CHECK-NEXT: aie2.loadfm body acquire 0 release 1 memtile 0 core 0 bytes 4032
// CHECK-NEXT: aie2.comp body acquire 1 release 2 macs 322560 iter 4 repeat 1
// CHECK-NEXT: aie2.writefm body acquire 2 release 0 memtile [[OUT]]
// CHECK-NEXT: aie2.loadfm tail acquire 0 release 1 memtile 0 core 0 bytes 2304
// CHECK-NEXT: aie2.comp tail acquire 1 release 2 macs 193536 iter 1 repeat 1
// CHECK-NEXT: aie2.writefm tail acquire 2 release 0 {{.*}} bytes 336
// CHECK-NEXT: aie2.write ddr memtile [[OUT]] bytes 12544 iter 1
// CHECK-NEXT: tiling.yield

// UNPLACED: error: layer 'conv' is not placed: run tiling-color-memtiles first
