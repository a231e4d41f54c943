// The tiling dialect round-trips: custom form, and generic form read back.
// RUN: bsir-opt %s | filecheck %s
// RUN: bsir-opt %s | bsir-opt | filecheck %s
// RUN: bsir-opt %s --print-op-generic | bsir-opt | filecheck %s

builtin.module attributes {tg.weights = "w.npz", tiling.array = #tiling.array<array_name = "aie2-2x2", rows = 2, cols = 2, memtile_bytes = 524288, memtile_mode = "shared", core_memory = 65536, input_buffer = 8192, output_buffer = 8192, weight_buffer = 16384, ddr_channel_gbps = 4.0, ddr_channels_per_memtile = 2, link_gbps = 4.0, macs_per_cycle = 256, clock_ghz = 1.0, locks_per_core = 16, locks_per_memtile = 64, memtile_mm2s = 6, memtile_s2mm = 6, core_mm2s = 2, core_s2mm = 2, shim_mm2s = 2, shim_s2mm = 2, memtile_bds = 48, core_bds = 16>} {
  tg.graph @g(%x: tensor<1x28x28x64xf32>) -> (tensor<1x28x28x64xf32>) {
    %w = tg.weight "conv.weight" : tensor<64x3x3x64xf32>
    %c = tiling.layer "conv" {split = #tiling.split<mode = "w", cols = [0, 14, 28], rows = [0, 32, 64], parts = 1>, subvolume = #tiling.subvolume<h = 6, w = 14, cout = 16, cin = 64, in_h = 8, in_w = 16, input_bytes = 8192, output_bytes = 1344, weight_bytes = 9216, iterations = 10, weight_loads = 2, weights_moved = 18432, macs = 774144, cin_split = 0>, ddr = #tiling.ddr<h_passes = 1, cout_passes = 1>, placement = #tiling.placement<inputs = [0, 25088], weights = [25088, 18432], output = [499200, 25088], live = [0, 25088, 25088, 18432, 499200, 25088], weight_live = [], scratch = [-1, 0]>} : tensor<1x28x28x64xf32> {
      %c_1 = tg.conv2d %x, %w {stride = array<i64: 1, 1>, pad = array<i64: 1, 1, 1, 1>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x28x28x64xf32>, tensor<64x3x3x64xf32>) -> tensor<1x28x28x64xf32>
      tiling.transfer {kind = "loadw", tensor = "weights", bytes = 18432 : i64, count = 1 : i64}
      tiling.transfer {kind = "to_cores", tensor = "input0", bytes = 8192 : i64, count = 10 : i64}
      tiling.transfer {kind = "weights_to_cores", tensor = "weights", bytes = 9216 : i64, count = 2 : i64}
      tiling.compute {macs = 774144 : i64, count = 10 : i64, macs_total = 28901376 : i64}
      tiling.transfer {kind = "from_cores", tensor = "output", bytes = 1344 : i64, count = 10 : i64}
      tiling.transfer {kind = "load", tensor = "input0", bytes = 25088 : i64, count = 1 : i64, address = 0 : i64}
      tiling.transfer {kind = "store", tensor = "output", bytes = 25088 : i64, count = 1 : i64, address = 499200 : i64}
      tiling.yield %c_1 : tensor<1x28x28x64xf32>
    }
    tg.output %c : tensor<1x28x28x64xf32>
  }
}

// CHECK: builtin.module attributes {tg.weights = "w.npz", tiling.array = #tiling.array<array_name = "aie2-2x2", rows = 2, cols = 2, memtile_bytes = 524288, memtile_mode = "shared", core_memory = 65536, input_buffer = 8192, output_buffer = 8192, weight_buffer = 16384, ddr_channel_gbps = 4.0, ddr_channels_per_memtile = 2, link_gbps = 4.0, macs_per_cycle = 256, clock_ghz = 1.0, locks_per_core = 16, locks_per_memtile = 64, memtile_mm2s = 6, memtile_s2mm = 6, core_mm2s = 2, core_s2mm = 2, shim_mm2s = 2, shim_s2mm = 2, memtile_bds = 48, core_bds = 16>} {
// CHECK: tiling.layer "conv" {split = #tiling.split<mode = "w", cols = [0, 14, 28], rows = [0, 32, 64], parts = 1>, subvolume = #tiling.subvolume<h = 6, w = 14, cout = 16, cin = 64, in_h = 8, in_w = 16, input_bytes = 8192, output_bytes = 1344, weight_bytes = 9216, iterations = 10, weight_loads = 2, weights_moved = 18432, macs = 774144, cin_split = 0>, ddr = #tiling.ddr<h_passes = 1, cout_passes = 1>, placement = #tiling.placement<inputs = [0, 25088], weights = [25088, 18432], output = [499200, 25088], live = [0, 25088, 25088, 18432, 499200, 25088], weight_live = [], scratch = [-1, 0]>} : tensor<1x28x28x64xf32> {
// CHECK-NEXT: tg.conv2d
// CHECK-NEXT: tiling.transfer {kind = "loadw", tensor = "weights", bytes = 18432 : i64, count = 1 : i64}
// CHECK: tiling.compute {macs = 774144 : i64, count = 10 : i64, macs_total = 28901376 : i64}
// CHECK: tiling.transfer {kind = "store", tensor = "output", bytes = 25088 : i64, count = 1 : i64, address = 499200 : i64}
// CHECK-NEXT: tiling.yield
