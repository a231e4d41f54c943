// Pipelines in xDSL form (-p) and MLIR form (--pass-pipeline with builtin.module(...)).
// tg layer ops are pure, so dce removes a layer whose result is unused.
// RUN: bsir-opt %s -p dce | filecheck %s
// RUN: bsir-opt %s --pass-pipeline='builtin.module(dce)' | filecheck %s
// RUN: bsir-opt %s --pass-pipeline='builtin.module(cse, dce)' | filecheck %s --check-prefix=CSE

builtin.module {
  tg.graph @g(%x: tensor<1x4x4x8xf32>) -> (tensor<1x4x4x8xf32>) {
    // CHECK: %a = tg.relu %x
    // CHECK-NOT: tg.clip
    // CSE: %a = tg.relu %x
    // CSE-NOT: tg.relu
    %a = tg.relu %x : (tensor<1x4x4x8xf32>) -> tensor<1x4x4x8xf32>
    %b = tg.relu %x : (tensor<1x4x4x8xf32>) -> tensor<1x4x4x8xf32>
    %dead = tg.clip %x {min = 0.0 : f32, max = 6.0 : f32} : (tensor<1x4x4x8xf32>) -> tensor<1x4x4x8xf32>
    // CHECK: tg.add %a, %b
    // CSE: tg.add %a, %a
    %s = tg.add %a, %b : (tensor<1x4x4x8xf32>, tensor<1x4x4x8xf32>) -> tensor<1x4x4x8xf32>
    tg.output %s : tensor<1x4x4x8xf32>
  }
}
