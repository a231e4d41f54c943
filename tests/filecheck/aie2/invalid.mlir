// Invalid instructions: located errors, one per case.
// RUN: bsir-opt %s --split-input-file --verify-diagnostics | filecheck %s

builtin.module attributes {tiling.array = #tiling.array<array_name = "a", rows = 1, cols = 1, memtile_bytes = 4096, memtile_mode = "shared", core_memory = 65536, input_buffer = 8192, output_buffer = 8192, weight_buffer = 16384, ddr_channel_gbps = 4.0, ddr_channels_per_memtile = 2, link_gbps = 4.0, macs_per_cycle = 256, clock_ghz = 1.0, locks_per_core = 16, locks_per_memtile = 64, memtile_mm2s = 6, memtile_s2mm = 6, core_mm2s = 2, core_s2mm = 2, shim_mm2s = 2, shim_s2mm = 2, memtile_bds = 48, core_bds = 16>} {
  tg.graph @g(%x: tensor<1x4x4x8xf32>) -> (tensor<1x4x4x8xf32>) {
    %y = aie2.layer "r" {split = #tiling.split<mode = "w", cols = [0, 4], rows = [0, 8], parts = 1>, subvolume = #tiling.subvolume<h = 4, w = 4, cout = 8, cin = 8, in_h = 4, in_w = 4, input_bytes = 128, output_bytes = 128, weight_bytes = 0, iterations = 1, weight_loads = 0, weights_moved = 0, macs = 128, cin_split = 0>, ddr = #tiling.ddr<h_passes = 1, cout_passes = 1>} : tensor<1x4x4x8xf32> {
      %r = tg.relu %x : (tensor<1x4x4x8xf32>) -> tensor<1x4x4x8xf32>
      // CHECK: invalid.mlir:[[# @LINE + 1]]:7: error: 'aie2.load': memtile range [4000, 4128) is outside the 4096-byte memtile
      aie2.load ddr memtile 4000 bytes 128 iter 1
      tiling.yield %r : tensor<1x4x4x8xf32>
    }
    tg.output %y : tensor<1x4x4x8xf32>
  }
}

// -----

builtin.module attributes {tiling.array = #tiling.array<array_name = "a", rows = 1, cols = 1, memtile_bytes = 4096, memtile_mode = "shared", core_memory = 65536, input_buffer = 8192, output_buffer = 8192, weight_buffer = 16384, ddr_channel_gbps = 4.0, ddr_channels_per_memtile = 2, link_gbps = 4.0, macs_per_cycle = 256, clock_ghz = 1.0, locks_per_core = 16, locks_per_memtile = 64, memtile_mm2s = 6, memtile_s2mm = 6, core_mm2s = 2, core_s2mm = 2, shim_mm2s = 2, shim_s2mm = 2, memtile_bds = 48, core_bds = 16>} {
  tg.graph @g(%x: tensor<1x4x4x8xf32>) -> (tensor<1x4x4x8xf32>) {
    %y = aie2.layer "r" {split = #tiling.split<mode = "w", cols = [0, 4], rows = [0, 8], parts = 1>, subvolume = #tiling.subvolume<h = 4, w = 4, cout = 8, cin = 8, in_h = 4, in_w = 4, input_bytes = 128, output_bytes = 128, weight_bytes = 0, iterations = 1, weight_loads = 0, weights_moved = 0, macs = 128, cin_split = 0>, ddr = #tiling.ddr<h_passes = 1, cout_passes = 1>} : tensor<1x4x4x8xf32> {
      %r = tg.relu %x : (tensor<1x4x4x8xf32>) -> tensor<1x4x4x8xf32>
      // CHECK: invalid.mlir:[[# @LINE + 1]]:7: error: 'aie2.comp': acquire lock 16 is outside the core's 0..15
      aie2.comp body acquire 16 release 2 macs 10 iter 2
      tiling.yield %r : tensor<1x4x4x8xf32>
    }
    tg.output %y : tensor<1x4x4x8xf32>
  }
}

// -----

builtin.module {
  tg.graph @g(%x: tensor<1x4x4x8xf32>) -> (tensor<1x4x4x8xf32>) {
    %y = aie2.layer "r" {split = #tiling.split<mode = "w", cols = [0, 4], rows = [0, 8], parts = 1>, subvolume = #tiling.subvolume<h = 4, w = 4, cout = 8, cin = 8, in_h = 4, in_w = 4, input_bytes = 128, output_bytes = 128, weight_bytes = 0, iterations = 1, weight_loads = 0, weights_moved = 0, macs = 128, cin_split = 0>, ddr = #tiling.ddr<h_passes = 1, cout_passes = 1>} : tensor<1x4x4x8xf32> {
      %r = tg.relu %x : (tensor<1x4x4x8xf32>) -> tensor<1x4x4x8xf32>
      // CHECK: invalid.mlir:[[# @LINE + 1]]:7: error: 'aie2.comp': iter, repeat and share must be at least 1
      aie2.comp body macs 10 iter 0
      tiling.yield %r : tensor<1x4x4x8xf32>
    }
    tg.output %y : tensor<1x4x4x8xf32>
  }
}

// -----

builtin.module {
  tg.graph @g(%x: tensor<1x4x4x8xf32>) -> (tensor<1x4x4x8xf32>) {
    %y = aie2.layer "r" {split = #tiling.split<mode = "w", cols = [0, 4], rows = [0, 8], parts = 1>, subvolume = #tiling.subvolume<h = 4, w = 4, cout = 8, cin = 8, in_h = 4, in_w = 4, input_bytes = 128, output_bytes = 128, weight_bytes = 0, iterations = 1, weight_loads = 0, weights_moved = 0, macs = 128, cin_split = 0>, ddr = #tiling.ddr<h_passes = 1, cout_passes = 1>} : tensor<1x4x4x8xf32> {
      %r = tg.relu %x : (tensor<1x4x4x8xf32>) -> tensor<1x4x4x8xf32>
      // CHECK: invalid.mlir:[[# @LINE + 1]]:19: error: 'aie2.loadfm' needs an 'iter' count
      aie2.loadfm body bytes 4 repeat 2
      tiling.yield %r : tensor<1x4x4x8xf32>
    }
    tg.output %y : tensor<1x4x4x8xf32>
  }
}

// -----

builtin.module {
  tg.graph @g(%x: tensor<1x4x4x8xf32>) -> (tensor<1x4x4x8xf32>) {
    %y = aie2.layer "r" {split = #tiling.split<mode = "w", cols = [0, 4], rows = [0, 8], parts = 1>, subvolume = #tiling.subvolume<h = 4, w = 4, cout = 8, cin = 8, in_h = 4, in_w = 4, input_bytes = 128, output_bytes = 128, weight_bytes = 0, iterations = 1, weight_loads = 0, weights_moved = 0, macs = 128, cin_split = 0>, ddr = #tiling.ddr<h_passes = 1, cout_passes = 1>} : tensor<1x4x4x8xf32> {
      %r = tg.relu %x : (tensor<1x4x4x8xf32>) -> tensor<1x4x4x8xf32>
      // CHECK: invalid.mlir:[[# @LINE + 1]]:7: error: 'aie2.writefm': iter, repeat and share must be at least 1
      aie2.writefm body bytes 8 iter 2 share 0
      tiling.yield %r : tensor<1x4x4x8xf32>
    }
    tg.output %y : tensor<1x4x4x8xf32>
  }
}

// -----

builtin.module attributes {tiling.array = #tiling.array<array_name = "a", rows = 1, cols = 1, memtile_bytes = 4096, memtile_mode = "shared", core_memory = 65536, input_buffer = 8192, output_buffer = 8192, weight_buffer = 16384, ddr_channel_gbps = 4.0, ddr_channels_per_memtile = 2, link_gbps = 4.0, macs_per_cycle = 256, clock_ghz = 1.0, locks_per_core = 16, locks_per_memtile = 64, memtile_mm2s = 6, memtile_s2mm = 6, core_mm2s = 2, core_s2mm = 2, shim_mm2s = 2, shim_s2mm = 2, memtile_bds = 48, core_bds = 16>} {
  tg.graph @g(%x: tensor<1x4x4x8xf32>) -> (tensor<1x4x4x8xf32>) {
    %y = aie2.layer "r" {split = #tiling.split<mode = "w", cols = [0, 4], rows = [0, 8], parts = 1>, subvolume = #tiling.subvolume<h = 4, w = 4, cout = 8, cin = 8, in_h = 4, in_w = 4, input_bytes = 128, output_bytes = 128, weight_bytes = 0, iterations = 1, weight_loads = 0, weights_moved = 0, macs = 128, cin_split = 0>, ddr = #tiling.ddr<h_passes = 1, cout_passes = 1>} : tensor<1x4x4x8xf32> {
      %r = tg.relu %x : (tensor<1x4x4x8xf32>) -> tensor<1x4x4x8xf32>
      // CHECK: invalid.mlir:[[# @LINE + 1]]:7: error: 'aie2.loadfm': unknown phase 'body.second' (ddr, once, head, body, tail; a streamed phase may name its input-channel chunk: first, middle, last)
      aie2.loadfm body.second memtile 0 core 0 bytes 128 iter 1
      tiling.yield %r : tensor<1x4x4x8xf32>
    }
    tg.output %y : tensor<1x4x4x8xf32>
  }
}

// -----

builtin.module attributes {tiling.array = #tiling.array<array_name = "a", rows = 1, cols = 1, memtile_bytes = 4096, memtile_mode = "shared", core_memory = 65536, input_buffer = 8192, output_buffer = 8192, weight_buffer = 16384, ddr_channel_gbps = 4.0, ddr_channels_per_memtile = 2, link_gbps = 4.0, macs_per_cycle = 256, clock_ghz = 1.0, locks_per_core = 16, locks_per_memtile = 64, memtile_mm2s = 6, memtile_s2mm = 6, core_mm2s = 2, core_s2mm = 2, shim_mm2s = 2, shim_s2mm = 2, memtile_bds = 48, core_bds = 16>} {
  tg.graph @g(%x: tensor<1x4x4x8xf32>) -> (tensor<1x4x4x8xf32>) {
    %y = aie2.layer "r" {split = #tiling.split<mode = "w", cols = [0, 4], rows = [0, 8], parts = 1>, subvolume = #tiling.subvolume<h = 4, w = 4, cout = 8, cin = 8, in_h = 4, in_w = 4, input_bytes = 128, output_bytes = 128, weight_bytes = 0, iterations = 1, weight_loads = 0, weights_moved = 0, macs = 128, cin_split = 0>, ddr = #tiling.ddr<h_passes = 1, cout_passes = 1>} : tensor<1x4x4x8xf32> {
      %r = tg.relu %x : (tensor<1x4x4x8xf32>) -> tensor<1x4x4x8xf32>
      // CHECK: invalid.mlir:[[# @LINE + 1]]:7: error: 'aie2.loadwdm': moved 1025 must be in 0..bytes x iter x repeat (1024)
      aie2.loadwdm once memtile 0 core 32768 bytes 512 iter 1 repeat 2 moved 1025
      tiling.yield %r : tensor<1x4x4x8xf32>
    }
    tg.output %y : tensor<1x4x4x8xf32>
  }
}


// -----

builtin.module attributes {tiling.array = #tiling.array<array_name = "a", rows = 1, cols = 1, memtile_bytes = 4096, memtile_mode = "shared", core_memory = 65536, input_buffer = 8192, output_buffer = 8192, weight_buffer = 16384, ddr_channel_gbps = 4.0, ddr_channels_per_memtile = 2, link_gbps = 4.0, macs_per_cycle = 256, clock_ghz = 1.0, locks_per_core = 16, locks_per_memtile = 64, memtile_mm2s = 6, memtile_s2mm = 6, core_mm2s = 2, core_s2mm = 2, shim_mm2s = 2, shim_s2mm = 2, memtile_bds = 48, core_bds = 16>} {
  tg.graph @g(%x: tensor<1x4x4x8xf32>) -> (tensor<1x4x4x8xf32>) {
    %y = aie2.layer "r" {split = #tiling.split<mode = "w", cols = [0, 4], rows = [0, 8], parts = 1>, subvolume = #tiling.subvolume<h = 4, w = 4, cout = 8, cin = 8, in_h = 4, in_w = 4, input_bytes = 128, output_bytes = 128, weight_bytes = 0, iterations = 1, weight_loads = 0, weights_moved = 0, macs = 128, cin_split = 0>, ddr = #tiling.ddr<h_passes = 1, cout_passes = 1>} : tensor<1x4x4x8xf32> {
      %r = tg.relu %x : (tensor<1x4x4x8xf32>) -> tensor<1x4x4x8xf32>
      // CHECK: invalid.mlir:[[# @LINE + 1]]:7: error: 'aie2.load': only a weight load (aie2.loadw) is issued 'ahead'
      aie2.load ddr memtile 0 bytes 128 iter 1 ahead 1
      tiling.yield %r : tensor<1x4x4x8xf32>
    }
    tg.output %y : tensor<1x4x4x8xf32>
  }
}

// -----

builtin.module attributes {tiling.array = #tiling.array<array_name = "a", rows = 1, cols = 1, memtile_bytes = 4096, memtile_mode = "shared", core_memory = 65536, input_buffer = 8192, output_buffer = 8192, weight_buffer = 16384, ddr_channel_gbps = 4.0, ddr_channels_per_memtile = 2, link_gbps = 4.0, macs_per_cycle = 256, clock_ghz = 1.0, locks_per_core = 16, locks_per_memtile = 64, memtile_mm2s = 6, memtile_s2mm = 6, core_mm2s = 2, core_s2mm = 2, shim_mm2s = 2, shim_s2mm = 2, memtile_bds = 48, core_bds = 16>} {
  tg.graph @g(%x: tensor<1x4x4x8xf32>) -> (tensor<1x4x4x8xf32>) {
    %y = aie2.layer "r" {split = #tiling.split<mode = "w", cols = [0, 4], rows = [0, 8], parts = 1>, subvolume = #tiling.subvolume<h = 4, w = 4, cout = 8, cin = 8, in_h = 4, in_w = 4, input_bytes = 128, output_bytes = 128, weight_bytes = 0, iterations = 1, weight_loads = 0, weights_moved = 0, macs = 128, cin_split = 0>, ddr = #tiling.ddr<h_passes = 1, cout_passes = 1>} : tensor<1x4x4x8xf32> {
      %r = tg.relu %x : (tensor<1x4x4x8xf32>) -> tensor<1x4x4x8xf32>
      // CHECK: invalid.mlir:[[# @LINE + 1]]:7: error: 'aie2.loadwdm': only a weight load (aie2.loadw) signals a memtile lock
      aie2.loadwdm once memtile 0 core 32768 bytes 512 iter 1 signal 63
      tiling.yield %r : tensor<1x4x4x8xf32>
    }
    tg.output %y : tensor<1x4x4x8xf32>
  }
}

// -----

builtin.module attributes {tiling.array = #tiling.array<array_name = "a", rows = 1, cols = 1, memtile_bytes = 4096, memtile_mode = "shared", core_memory = 65536, input_buffer = 8192, output_buffer = 8192, weight_buffer = 16384, ddr_channel_gbps = 4.0, ddr_channels_per_memtile = 2, link_gbps = 4.0, macs_per_cycle = 256, clock_ghz = 1.0, locks_per_core = 16, locks_per_memtile = 64, memtile_mm2s = 6, memtile_s2mm = 6, core_mm2s = 2, core_s2mm = 2, shim_mm2s = 2, shim_s2mm = 2, memtile_bds = 48, core_bds = 16>} {
  tg.graph @g(%x: tensor<1x4x4x8xf32>) -> (tensor<1x4x4x8xf32>) {
    %y = aie2.layer "r" {split = #tiling.split<mode = "w", cols = [0, 4], rows = [0, 8], parts = 1>, subvolume = #tiling.subvolume<h = 4, w = 4, cout = 8, cin = 8, in_h = 4, in_w = 4, input_bytes = 128, output_bytes = 128, weight_bytes = 0, iterations = 1, weight_loads = 0, weights_moved = 0, macs = 128, cin_split = 0>, ddr = #tiling.ddr<h_passes = 1, cout_passes = 1>} : tensor<1x4x4x8xf32> {
      %r = tg.relu %x : (tensor<1x4x4x8xf32>) -> tensor<1x4x4x8xf32>
      // CHECK: invalid.mlir:[[# @LINE + 1]]:7: error: 'aie2.loadw': only aie2.loadwdm waits on a memtile lock
      aie2.loadw ddr memtile 0 bytes 128 iter 1 wait 63
      tiling.yield %r : tensor<1x4x4x8xf32>
    }
    tg.output %y : tensor<1x4x4x8xf32>
  }
}

// -----

builtin.module attributes {tiling.array = #tiling.array<array_name = "a", rows = 1, cols = 1, memtile_bytes = 4096, memtile_mode = "shared", core_memory = 65536, input_buffer = 8192, output_buffer = 8192, weight_buffer = 16384, ddr_channel_gbps = 4.0, ddr_channels_per_memtile = 2, link_gbps = 4.0, macs_per_cycle = 256, clock_ghz = 1.0, locks_per_core = 16, locks_per_memtile = 64, memtile_mm2s = 6, memtile_s2mm = 6, core_mm2s = 2, core_s2mm = 2, shim_mm2s = 2, shim_s2mm = 2, memtile_bds = 48, core_bds = 16>} {
  tg.graph @g(%x: tensor<1x4x4x8xf32>) -> (tensor<1x4x4x8xf32>) {
    %y = aie2.layer "r" {split = #tiling.split<mode = "w", cols = [0, 4], rows = [0, 8], parts = 1>, subvolume = #tiling.subvolume<h = 4, w = 4, cout = 8, cin = 8, in_h = 4, in_w = 4, input_bytes = 128, output_bytes = 128, weight_bytes = 0, iterations = 1, weight_loads = 0, weights_moved = 0, macs = 128, cin_split = 0>, ddr = #tiling.ddr<h_passes = 1, cout_passes = 1>} : tensor<1x4x4x8xf32> {
      %r = tg.relu %x : (tensor<1x4x4x8xf32>) -> tensor<1x4x4x8xf32>
      // CHECK: invalid.mlir:[[# @LINE + 1]]:7: error: 'aie2.loadw': signal lock 64 is outside the memtile's 0..63
      aie2.loadw ddr memtile 0 bytes 128 iter 1 ahead 1 signal 64
      tiling.yield %r : tensor<1x4x4x8xf32>
    }
    tg.output %y : tensor<1x4x4x8xf32>
  }
}
