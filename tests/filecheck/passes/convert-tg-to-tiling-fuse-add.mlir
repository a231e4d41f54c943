// convert-tg-to-tiling fuses a residual addition into the convolution that produces
// one of its operands when that is faster than a layer of its own: the layer's body
// computes the convolution, adds the residual (read tile by tile with the input:
// a second `to_cores` transfer) and applies the ReLU; no mark is left behind.
// RUN: bsir-opt %s -p 'convert-tg-to-tiling{grid=4x4}' | filecheck %s
// RUN: bsir-opt %s -p 'convert-tg-to-tiling{grid=4x4},tiling-color-memtiles,convert-tiling-to-aie2,aie2-form-lock-chains' | filecheck %s --check-prefix=AIE2

builtin.module attributes {tg.weights = "w.npz"} {
  tg.graph @g(%x: tensor<1x28x28x64xf32>) -> (tensor<1x28x28x256xf32>) {
    %w0 = tg.weight "down.weight" : tensor<256x1x1x64xf32>
    %r = tg.conv2d %x, %w0 {stride = array<i64: 1, 1>, pad = array<i64: 0, 0, 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x28x28x64xf32>, tensor<256x1x1x64xf32>) -> tensor<1x28x28x256xf32>
    %w1 = tg.weight "conv.weight" : tensor<256x1x1x64xf32>
    %c = tg.conv2d %x, %w1 {stride = array<i64: 1, 1>, pad = array<i64: 0, 0, 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x28x28x64xf32>, tensor<256x1x1x64xf32>) -> tensor<1x28x28x256xf32>
    %s = tg.add %r, %c : (tensor<1x28x28x256xf32>, tensor<1x28x28x256xf32>) -> tensor<1x28x28x256xf32>
    %y = tg.relu %s : (tensor<1x28x28x256xf32>) -> tensor<1x28x28x256xf32>
    tg.output %y : tensor<1x28x28x256xf32>
  }
}

// The first convolution is a layer of its own; the second (the later producer) takes
// the addition, its residual the first's output, and the ReLU after it.
// CHECK: %[[R:.*]] = tiling.layer "down"
// CHECK: %{{.*}} = tiling.layer "conv" {{.*}} {
// CHECK-NEXT: %[[C:.*]] = tg.conv2d %x, %w1
// CHECK-NEXT: %[[S:.*]] = tg.add %[[R]], %[[C]]
// CHECK-NOT: tiling.fused
// CHECK-NEXT: %[[Y:.*]] = tg.relu %[[S]]
// CHECK: tiling.transfer {kind = "to_cores", tensor = "input0"
// CHECK-NEXT: tiling.transfer {kind = "to_cores", tensor = "input1"
// CHECK: tiling.yield %[[Y]]
// CHECK-NOT: tg.add

// The fused layer writes its output over the residual, which dies with it.
// AIE2: aie2.layer "conv" {{.*}}placement = #tiling.placement<inputs = [{{[0-9]+}}, 12544, [[RES:[0-9]+]], 50176], weights = [{{[0-9]+}}, {{[0-9]+}}], output = [[[RES]], 50176]
