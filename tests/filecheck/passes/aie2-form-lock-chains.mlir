// aie2-form-lock-chains: the streamed instructions of each phase get the ping/pong lock
// ring LOADFM k0 -> k1, COMP k1 -> k2, WRITEFM k2 -> k0 with two tokens on k0; loads
// and LOADWDM take no lock. Its input is what convert-tiling-to-aie2 emits.
// RUN: bsir-opt %s -p aie2-form-lock-chains | filecheck %s
// RUN: bsir-opt %s -p aie2-form-lock-chains | bsir-opt -p aie2-form-lock-chains | filecheck %s
// RUN: not bsir-opt %S/convert-tg-to-tiling.mlir -p 'convert-tg-to-tiling{grid=2x2},aie2-form-lock-chains' 2>&1 | filecheck %s --check-prefix=UNLOWERED

builtin.module attributes {tg.weights = "w.npz", tiling.array = #tiling.array<array_name = "aie2-2x2", rows = 2, cols = 2, memtile_bytes = 524288, memtile_mode = "shared", core_memory = 65536, input_buffer = 8192, output_buffer = 8192, weight_buffer = 16384, ddr_channel_gbps = 4.0, ddr_channels_per_memtile = 2, link_gbps = 4.0, macs_per_cycle = 256, clock_ghz = 1.0, locks_per_core = 16, locks_per_memtile = 64, memtile_mm2s = 6, memtile_s2mm = 6, core_mm2s = 2, core_s2mm = 2, shim_mm2s = 2, shim_s2mm = 2, memtile_bds = 48, core_bds = 16>} {
  tg.graph @g(%x: tensor<1x28x28x64xf32>) -> (tensor<1x28x28x64xf32>) {
    %w = tg.weight "conv.weight" : tensor<64x3x3x64xf32>
    %c = aie2.layer "conv" {split = #tiling.split<mode = "w", cols = [0, 14, 28], rows = [0, 32, 64], parts = 1>, subvolume = #tiling.subvolume<h = 6, w = 14, cout = 16, cin = 64, in_h = 8, in_w = 16, input_bytes = 8192, output_bytes = 1344, weight_bytes = 9216, iterations = 10, weight_loads = 2, weights_moved = 18432, macs = 774144, cin_split = 0>, ddr = #tiling.ddr<h_passes = 1, cout_passes = 1>, placement = #tiling.placement<inputs = [0, 25088], weights = [25088, 18432], output = [499200, 25088], live = [0, 25088, 25088, 18432, 499200, 25088], weight_live = [], scratch = [-1, 0]>} : tensor<1x28x28x64xf32> {
      %c_1 = tg.conv2d %x, %w {stride = array<i64: 1, 1>, pad = array<i64: 1, 1, 1, 1>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x28x28x64xf32>, tensor<64x3x3x64xf32>) -> tensor<1x28x28x64xf32>
      aie2.load ddr memtile 0 bytes 25088 iter 1
      aie2.loadw ddr memtile 25088 bytes 18432 iter 1
      aie2.loadwdm once memtile 25088 core 32768 bytes 9216 iter 1 repeat 2
      aie2.loadfm head memtile 0 core 0 bytes 7168 extent 25088 stride 896 iter 1 repeat 2
      aie2.comp head macs 774144 iter 1 repeat 2
      aie2.writefm head memtile 499200 core 16384 bytes 1344 extent 25088 stride 896 iter 1 repeat 2
      aie2.loadfm body memtile 0 core 0 bytes 8192 extent 25088 stride 896 iter 3 repeat 2
      aie2.comp body macs 774144 iter 3 repeat 2
      aie2.writefm body memtile 499200 core 16384 bytes 1344 extent 25088 stride 896 iter 3 repeat 2
      aie2.loadfm tail memtile 0 core 0 bytes 5120 extent 25088 stride 896 iter 1 repeat 2
      aie2.comp tail macs 516096 iter 1 repeat 2
      aie2.writefm tail memtile 499200 core 16384 bytes 896 extent 25088 stride 896 iter 1 repeat 2
      aie2.write ddr memtile 499200 bytes 25088 iter 1
      tiling.yield %c_1 : tensor<1x28x28x64xf32>
    }
    tg.output %c : tensor<1x28x28x64xf32>
  }
}

// CHECK: aie2.layer "conv" {{.*}}locks = #aie2.locks<init = [2, 0, 0]>} : tensor<1x28x28x64xf32> {
// CHECK-NEXT: tg.conv2d
// CHECK-NEXT: aie2.load ddr memtile 0 bytes 25088 iter 1
// CHECK-NEXT: aie2.loadw ddr memtile 25088 bytes 18432 iter 1
// CHECK-NEXT: aie2.loadwdm once memtile 25088 core 32768 bytes 9216 iter 1 repeat 2
// CHECK-NEXT: aie2.loadfm head acquire 0 release 1
// CHECK-NEXT: aie2.comp head acquire 1 release 2
// CHECK-NEXT: aie2.writefm head acquire 2 release 0
// CHECK-NEXT: aie2.loadfm body acquire 0 release 1
// CHECK-NEXT: aie2.comp body acquire 1 release 2
// CHECK-NEXT: aie2.writefm body acquire 2 release 0
// CHECK-NEXT: aie2.loadfm tail acquire 0 release 1
// CHECK-NEXT: aie2.comp tail acquire 1 release 2
// CHECK-NEXT: aie2.writefm tail acquire 2 release 0
// CHECK-NEXT: aie2.write ddr memtile 499200 bytes 25088 iter 1

// UNLOWERED: error: aie2-form-lock-chains: the layers are not lowered: run convert-tiling-to-aie2 first
