// aie2-form-lock-chains with weights loaded ahead: each prefetched LOADW releases a lock
// of the weight memtiles (signal), the highest one no prefetch in flight with it holds,
// and its layer's LOADWDMs acquire it (wait). A prefetch whose LOADWDM does not wait is a
// race, a wait without its signal a deadlock, a prefetch into a range a layer it runs
// under keeps a race, and a prefetch before the first layer impossible.
// RUN: bsir export tiny_cnn -o %t.mlir --no-weights
// RUN: bsir-opt %t.mlir -p 'convert-tg-to-tiling{grid=2x2},tiling-color-memtiles{prefetch=2},convert-tiling-to-aie2' -o %t.aie2.mlir
// RUN: bsir-opt %t.aie2.mlir -p aie2-form-lock-chains | filecheck %s
// RUN: bsir-opt %t.aie2.mlir -p aie2-form-lock-chains | bsir-opt -p aie2-form-lock-chains | filecheck %s
// RUN: bsir-opt %t.aie2.mlir -p aie2-form-lock-chains | sed 's/ wait 63//' | not bsir-opt -p aie2-form-lock-chains 2>&1 | filecheck %s --check-prefix=RACE
// RUN: bsir-opt %t.aie2.mlir -p aie2-form-lock-chains | sed 's/ ahead 2 signal 63/ ahead 2/' | not bsir-opt -p aie2-form-lock-chains 2>&1 | filecheck %s --check-prefix=UNSIGNALLED
// RUN: bsir-opt %t.aie2.mlir -p aie2-form-lock-chains | sed 's/ ahead 2 signal 63//' | not bsir-opt -p aie2-form-lock-chains 2>&1 | filecheck %s --check-prefix=DEADLOCK
// RUN: bsir-opt %t.aie2.mlir -p aie2-form-lock-chains | sed 's/memtile 640 bytes 2368 iter 1 ahead 2/memtile 0 bytes 2368 iter 1 ahead 2/' | not bsir-opt -p aie2-form-lock-chains 2>&1 | filecheck %s --check-prefix=CLOBBER
// RUN: bsir-opt %t.aie2.mlir -p aie2-form-lock-chains | sed 's/ ahead 2 signal 63/ ahead 3 signal 63/' | not bsir-opt -p aie2-form-lock-chains 2>&1 | filecheck %s --check-prefix=EARLY

// CHECK: aie2.layer "conv2"
// CHECK: aie2.loadw ddr memtile 640 bytes 2368 iter 1 ahead 2 signal 63
// CHECK-NEXT: aie2.loadwdm once memtile 640 core 32768 bytes 608 iter 1 repeat 2 wait 63
// CHECK: aie2.layer "fc"
// CHECK: aie2.loadw ddr memtile 3008 bytes 2580 iter 1 ahead 2 signal 62
// CHECK-NEXT: aie2.loadwdm once memtile 3008 core 32768 bytes 1548 iter 1 repeat 1 wait 62

// RACE: error: layer 'conv2': race: its LOADWDM does not wait on lock 63, which its prefetched weights signal
// UNSIGNALLED: error: layer 'conv2': race: its weight load runs 2 layers ahead and signals no lock
// DEADLOCK: error: layer 'conv2': deadlock: its LOADWDM waits on weight-memtile lock 63, which no prefetch of its weights signals
// CLOBBER: error: layer 'conv2': race: its weights load into [0, 2368) under layer 'conv1', where it keeps [0, 384)
// EARLY: error: layer 'conv2': its weights load 3 layers ahead, before the program starts (2 layers run before it)
