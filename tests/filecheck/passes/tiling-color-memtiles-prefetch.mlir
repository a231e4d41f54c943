// tiling-color-memtiles{prefetch=N}: each layer's weights move to memtile space free
// while up to N layers before it run, and their load runs that many layers ahead; the
// range joins the live ranges of the layers it runs under. Activations keep their
// addresses: nothing is evicted for a prefetch.
// RUN: bsir export tiny_cnn -o %t.mlir --no-weights
// RUN: bsir-opt %t.mlir -p 'convert-tg-to-tiling{grid=2x2},tiling-color-memtiles{prefetch=2}' | filecheck %s
// RUN: bsir-opt %t.mlir -p 'convert-tg-to-tiling{grid=2x2},tiling-color-memtiles{prefetch=1}' | filecheck %s --check-prefix=ONE
// RUN: bsir-opt %t.mlir -p 'convert-tg-to-tiling{grid=2x2},tiling-color-memtiles' | filecheck %s --check-prefix=NONE
// RUN: not bsir-opt %t.mlir -p 'convert-tg-to-tiling{grid=2x2},tiling-color-memtiles{prefetch=-1}' 2>&1 | filecheck %s --check-prefix=NEGATIVE

// The first layer has nothing to run under; conv2's weights load under conv1 and the
// pool, fc's under conv2's successors.
// CHECK: tiling.layer "conv1" {{.*}}placement = #tiling.placement<inputs = [0, 384], weights = [384, 256], output = [522240, 2048], live = [0, 384, 384, 256, 640, 2368, 522240, 2048]
// CHECK: tiling.transfer {kind = "loadw", tensor = "weights", bytes = 248 : i64, count = 1 : i64}
// CHECK: tiling.layer "maxpool2d_{{[0-9]+}}" {{.*}}live = [0, 512, 640, 2368, 522240, 2048]
// CHECK: tiling.layer "conv2" {{.*}}placement = #tiling.placement<inputs = [0, 512], weights = [640, 2368], output = [523264, 1024], live = [0, 512, 640, 2368, 3008, 2624, 523264, 1024]
// CHECK: tiling.transfer {kind = "loadw", tensor = "weights", bytes = 2368 : i64, count = 1 : i64, ahead = 2 : i64}
// CHECK: tiling.layer "fc" {{.*}}weights = [3008, 2624]
// CHECK: tiling.transfer {kind = "loadw", tensor = "weights", bytes = 2580 : i64, count = 1 : i64, ahead = 2 : i64}

// ONE: tiling.layer "conv2"
// ONE: tiling.transfer {kind = "loadw", tensor = "weights", bytes = 2368 : i64, count = 1 : i64, ahead = 1 : i64}

// NONE-NOT: ahead

// NEGATIVE: prefetch is a count of layers, got -1
