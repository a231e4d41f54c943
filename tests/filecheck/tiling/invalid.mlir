// Invalid tiling IR gives located errors.
// RUN: bsir-opt %s --split-input-file --verify-diagnostics | filecheck %s

builtin.module {
  tg.graph @g(%x: tensor<1x4x4x8xf32>) -> (tensor<1x4x4x8xf32>) {
    // CHECK: invalid.mlir:[[# @LINE + 1]]:5: error: split mode must be "w", "cout" or "h", got rows
    %y = tiling.layer "r" {split = #tiling.split<mode = "rows", cols = [0, 4], rows = [0, 8], parts = 1>, subvolume = #tiling.subvolume<h = 4, w = 4, cout = 8, cin = 8, in_h = 4, in_w = 4, input_bytes = 128, output_bytes = 128, weight_bytes = 0, iterations = 1, weight_loads = 0, weights_moved = 0, macs = 128, cin_split = 0>, ddr = #tiling.ddr<h_passes = 1, cout_passes = 1>} : tensor<1x4x4x8xf32> {
      %r = tg.relu %x : (tensor<1x4x4x8xf32>) -> tensor<1x4x4x8xf32>
      tiling.yield %r : tensor<1x4x4x8xf32>
    }
    tg.output %y : tensor<1x4x4x8xf32>
  }
}

// -----

builtin.module {
  tg.graph @g(%x: tensor<1x4x4x8xf32>) -> (tensor<1x4x4x8xf32>) {
    // CHECK: invalid.mlir:[[# @LINE + 1]]:5: error: split parts must be 1, or with mode "w" or "cout" at most the 2 rows, got 2
    %y = tiling.layer "r" {split = #tiling.split<mode = "h", cols = [0, 4], rows = [0, 2, 4], parts = 2>, subvolume = #tiling.subvolume<h = 4, w = 4, cout = 8, cin = 8, in_h = 4, in_w = 4, input_bytes = 128, output_bytes = 128, weight_bytes = 0, iterations = 1, weight_loads = 0, weights_moved = 0, macs = 128, cin_split = 0>, ddr = #tiling.ddr<h_passes = 1, cout_passes = 1>} : tensor<1x4x4x8xf32> {
      %r = tg.relu %x : (tensor<1x4x4x8xf32>) -> tensor<1x4x4x8xf32>
      tiling.yield %r : tensor<1x4x4x8xf32>
    }
    tg.output %y : tensor<1x4x4x8xf32>
  }
}

// -----

builtin.module {
  tg.graph @g(%x: tensor<1x4x4x8xf32>) -> (tensor<1x4x4x8xf32>) {
    // CHECK: invalid.mlir:[[# @LINE + 1]]:5: error: split parts must be 1, or with mode "w" or "cout" at most the 2 rows, got 3
    %y = tiling.layer "r" {split = #tiling.split<mode = "w", cols = [0, 4], rows = [0, 8, 8], parts = 3>, subvolume = #tiling.subvolume<h = 4, w = 4, cout = 8, cin = 8, in_h = 4, in_w = 4, input_bytes = 128, output_bytes = 128, weight_bytes = 0, iterations = 1, weight_loads = 0, weights_moved = 0, macs = 128, cin_split = 0>, ddr = #tiling.ddr<h_passes = 1, cout_passes = 1>} : tensor<1x4x4x8xf32> {
      %r = tg.relu %x : (tensor<1x4x4x8xf32>) -> tensor<1x4x4x8xf32>
      tiling.yield %r : tensor<1x4x4x8xf32>
    }
    tg.output %y : tensor<1x4x4x8xf32>
  }
}

// -----

builtin.module {
  tg.graph @g(%x: tensor<1x4x4x8xf32>) -> (tensor<1x4x4x8xf32>) {
    %y = tiling.layer "r" {split = #tiling.split<mode = "w", cols = [0, 4], rows = [0, 8], parts = 1>, subvolume = #tiling.subvolume<h = 4, w = 4, cout = 8, cin = 8, in_h = 4, in_w = 4, input_bytes = 128, output_bytes = 128, weight_bytes = 0, iterations = 1, weight_loads = 0, weights_moved = 0, macs = 128, cin_split = 0>, ddr = #tiling.ddr<h_passes = 1, cout_passes = 1>} : tensor<1x4x4x8xf32> {
      %r = tg.relu %x : (tensor<1x4x4x8xf32>) -> tensor<1x4x4x8xf32>
      // CHECK: invalid.mlir:[[# @LINE + 1]]:7: error: 'tiling.transfer': unknown transfer kind 'teleport'
      tiling.transfer {kind = "teleport", tensor = "input0", bytes = 1 : i64, count = 1 : i64}
      tiling.yield %r : tensor<1x4x4x8xf32>
    }
    tg.output %y : tensor<1x4x4x8xf32>
  }
}

// -----

builtin.module {
  tg.graph @g(%x: tensor<1x4x4x8xf32>) -> (tensor<1x4x4x8xf32>) {
    // CHECK: invalid.mlir:[[# @LINE + 1]]:5: error: 'tiling.layer': a tiling.layer body starts with the tg op it maps
    %y = tiling.layer "r" {split = #tiling.split<mode = "w", cols = [0, 4], rows = [0, 8], parts = 1>, subvolume = #tiling.subvolume<h = 4, w = 4, cout = 8, cin = 8, in_h = 4, in_w = 4, input_bytes = 128, output_bytes = 128, weight_bytes = 0, iterations = 1, weight_loads = 0, weights_moved = 0, macs = 128, cin_split = 0>, ddr = #tiling.ddr<h_passes = 1, cout_passes = 1>} : tensor<1x4x4x8xf32> {
      tiling.yield %x : tensor<1x4x4x8xf32>
    }
    tg.output %y : tensor<1x4x4x8xf32>
  }
}

// -----

builtin.module {
  tg.graph @g(%x: tensor<1x4x4x8xf32>) -> (tensor<1x4x4x8xf32>) {
    // CHECK: invalid.mlir:[[# @LINE + 1]]:5: error: subvolume cin_split must be 0 (none), 1 (sums in the output buffer), 2 (in the memtile), 3 (in the core's scratch) or 4 (there, column chunks inside), got 5
    %y = tiling.layer "r" {split = #tiling.split<mode = "w", cols = [0, 4], rows = [0, 8], parts = 1>, subvolume = #tiling.subvolume<h = 4, w = 4, cout = 8, cin = 8, in_h = 4, in_w = 4, input_bytes = 128, output_bytes = 128, weight_bytes = 0, iterations = 1, weight_loads = 0, weights_moved = 0, macs = 128, cin_split = 5>, ddr = #tiling.ddr<h_passes = 1, cout_passes = 1>} : tensor<1x4x4x8xf32> {
      %r = tg.relu %x : (tensor<1x4x4x8xf32>) -> tensor<1x4x4x8xf32>
      tiling.yield %r : tensor<1x4x4x8xf32>
    }
    tg.output %y : tensor<1x4x4x8xf32>
  }
}

// -----

builtin.module {
  tg.graph @g(%x: tensor<1x4x4x8xf32>) -> (tensor<1x4x4x8xf32>) {
    // CHECK: invalid.mlir:[[# @LINE + 1]]:5: error: subvolume weights_moved must be in 0..weight_bytes x weight_loads (1024), got 1025
    %y = tiling.layer "r" {split = #tiling.split<mode = "w", cols = [0, 4], rows = [0, 8], parts = 1>, subvolume = #tiling.subvolume<h = 4, w = 4, cout = 8, cin = 8, in_h = 4, in_w = 4, input_bytes = 128, output_bytes = 128, weight_bytes = 512, iterations = 1, weight_loads = 2, weights_moved = 1025, macs = 128, cin_split = 0>, ddr = #tiling.ddr<h_passes = 1, cout_passes = 1>} : tensor<1x4x4x8xf32> {
      %r = tg.relu %x : (tensor<1x4x4x8xf32>) -> tensor<1x4x4x8xf32>
      tiling.yield %r : tensor<1x4x4x8xf32>
    }
    tg.output %y : tensor<1x4x4x8xf32>
  }
}

// -----

builtin.module {
  tg.graph @g(%x: tensor<1x4x4x8xf32>) -> (tensor<1x4x4x8xf32>) {
    %y = tiling.layer "r" {split = #tiling.split<mode = "w", cols = [0, 4], rows = [0, 8], parts = 1>, subvolume = #tiling.subvolume<h = 4, w = 4, cout = 8, cin = 8, in_h = 4, in_w = 4, input_bytes = 128, output_bytes = 128, weight_bytes = 0, iterations = 1, weight_loads = 0, weights_moved = 0, macs = 128, cin_split = 0>, ddr = #tiling.ddr<h_passes = 1, cout_passes = 1>} : tensor<1x4x4x8xf32> {
      %r = tg.relu %x : (tensor<1x4x4x8xf32>) -> tensor<1x4x4x8xf32>
      // CHECK: invalid.mlir:[[# @LINE + 1]]:7: error: 'tiling.transfer': only a weight load ('loadw') is prefetched ('ahead')
      tiling.transfer {kind = "load", tensor = "input0", bytes = 1 : i64, count = 1 : i64, ahead = 1 : i64}
      tiling.yield %r : tensor<1x4x4x8xf32>
    }
    tg.output %y : tensor<1x4x4x8xf32>
  }
}

