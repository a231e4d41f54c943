// tg-split-global-pool: a global average pool over 112 x 112 (EfficientNet-B0's first
// squeeze-and-excitation; one channel's window is 12 KB, more than a core's 8 KB input
// buffer) becomes a 2 x 2 average pool and a global pool over 56 x 56; small ones stay.
// RUN: bsir-opt %s -p tg-split-global-pool | filecheck %s
// RUN: bsir-opt %s -p 'tg-split-global-pool{max_window=100000}' | filecheck %s --check-prefix=KEEP
// RUN: not bsir-opt %s -p 'tg-split-global-pool{max_window=0}' 2>&1 | filecheck %s --check-prefix=BAD

builtin.module {
  tg.graph @g(%x: tensor<1x112x112x4xf32>, %y: tensor<1x7x7x4xf32>) -> (tensor<1x1x1x4xf32>, tensor<1x1x1x4xf32>) {
    %a = tg.global_avgpool %x : (tensor<1x112x112x4xf32>) -> tensor<1x1x1x4xf32>
    %b = tg.global_avgpool %y : (tensor<1x7x7x4xf32>) -> tensor<1x1x1x4xf32>
    tg.output %a, %b : tensor<1x1x1x4xf32>, tensor<1x1x1x4xf32>
  }
}

// CHECK: %{{.*}} = tg.avgpool2d %x {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>, pad = array<i64: 0, 0, 0, 0>} : (tensor<1x112x112x4xf32>) -> tensor<1x56x56x4xf32>
// CHECK-NEXT: %{{.*}} = tg.global_avgpool %{{.*}} : (tensor<1x56x56x4xf32>) -> tensor<1x1x1x4xf32>
// CHECK-NEXT: %{{.*}} = tg.global_avgpool %y : (tensor<1x7x7x4xf32>) -> tensor<1x1x1x4xf32>

// KEEP: tg.global_avgpool %x : (tensor<1x112x112x4xf32>)
// KEEP-NOT: tg.avgpool2d

// BAD: error: tg-split-global-pool: max_window must be positive, got 0
