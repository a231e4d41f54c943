// tiling-color-memtiles: the graph input is loaded from DDR, intermediate tensors stay
// in memtile (reusing freed space), the graph output is stored to DDR.
// RUN: bsir export tiny_cnn -o %t.mlir --no-weights
// RUN: bsir-opt %t.mlir -p 'convert-tg-to-tiling{grid=2x2},tiling-color-memtiles' | filecheck %s
// RUN: bsir-opt %t.mlir -p 'convert-tg-to-tiling{hardware="%S/Inputs/tiny-memtile.toml"},tiling-color-memtiles' | filecheck %s --check-prefix=SPILL
// RUN: bsir-opt %t.mlir -p 'convert-tg-to-tiling{hardware="%S/Inputs/2k-memtile.toml"},tiling-color-memtiles' | filecheck %s --check-prefix=STREAM
// RUN: not bsir-opt %t.mlir -p 'tiling-color-memtiles' 2>&1 | filecheck %s --check-prefix=UNMAPPED

// CHECK: tiling.layer "conv1" {{.*}}placement = #tiling.placement<inputs = [0, {{[0-9]+}}], weights = [{{[0-9]+}}, {{[0-9]+}}], output = [{{[0-9]+}}, {{[0-9]+}}], live = [{{.*}}]
// CHECK: tiling.transfer {kind = "load", tensor = "input0", bytes = 384 : i64, count = 1 : i64, address = 0 : i64}
// CHECK: tiling.layer "maxpool2d_{{[0-9]+}}"
// CHECK-NOT: kind = "load"
// CHECK: tiling.layer "fc"
// CHECK: tiling.transfer {kind = "store", tensor = "output", bytes = 5 : i64, count = 1 : i64, address = {{[0-9]+}} : i64}

// With 3.75 KiB memtiles conv2's weights come in two output-channel bands while its
// activations stay resident.
// SPILL: tiling.layer "conv2" {{.*}}ddr = #tiling.ddr<h_passes = 1, cout_passes = 2>, placement = #tiling.placement<inputs = [{{[0-9]+}}, 512], weights = [{{[0-9]+}}, 1216], output = [{{[0-9]+}}, 1024]
// SPILL: tiling.transfer {kind = "loadw", tensor = "weights", bytes = 1184 : i64, count = 2 : i64}
// SPILL-NOT: kind = "spill"
// SPILL: tiling.layer "maxpool2d_{{[0-9]+}}"

// With 2 KiB memtiles conv1 runs in two channel bands through DDR (its output rows
// split over the core rows): the input loaded and half the output stored per band, and
// the next layer reads it back from DDR.
// STREAM: tiling.layer "conv1" {split = #tiling.split<mode = "h"{{.*}}ddr = #tiling.ddr<h_passes = 1, cout_passes = 2>, placement = #tiling.placement<inputs = [-1, 384], weights = [0, 128], output = [-1, 2048]
// STREAM: tiling.transfer {kind = "load", tensor = "input0", bytes = 384 : i64, count = 2 : i64}
// STREAM: tiling.transfer {kind = "store", tensor = "output", bytes = 1024 : i64, count = 2 : i64}
// STREAM: tiling.layer "maxpool2d_{{[0-9]+}}"
// STREAM: tiling.transfer {kind = "load", tensor = "input0", bytes = 1024 : i64, count = 2 : i64}

// UNMAPPED: bsir-opt: error: the module is not mapped: run convert-tg-to-tiling first
