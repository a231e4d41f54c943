// Every tg op prints and parses back to the same text, in custom and generic form.
// RUN: bsir-opt %s | filecheck %s
// RUN: bsir-opt %s | bsir-opt | filecheck %s
// RUN: bsir-opt %s --print-op-generic | bsir-opt | filecheck %s

builtin.module attributes {tg.weights = "ops.npz"} {
  // CHECK-LABEL: tg.graph @all_ops(%x: tensor<1x8x8x16xf32>, %v: tensor<2x64xf32>) -> (tensor<1x10xf32>, tensor<2x32xf32>) {
  tg.graph @all_ops(%x: tensor<1x8x8x16xf32>, %v: tensor<2x64xf32>) -> (tensor<1x10xf32>, tensor<2x32xf32>) {
    // CHECK-NEXT: %w = tg.weight "conv.weight" : tensor<32x3x3x16xf32>
    %w = tg.weight "conv.weight" : tensor<32x3x3x16xf32>
    // CHECK-NEXT: %b = tg.weight "conv.bias" : tensor<32xf32>
    %b = tg.weight "conv.bias" : tensor<32xf32>
    // CHECK-NEXT: %c = tg.conv2d %x, %w, %b {stride = array<i64: 1, 1>, pad = array<i64: 1, 1, 1, 1>, dilation = array<i64: 1, 1>, groups = 1 : i64, sparsity = #tg.sparsity<block = [8, 8], grid = [4, 2], mask = "a5">} : (tensor<1x8x8x16xf32>, tensor<32x3x3x16xf32>, tensor<32xf32>) -> tensor<1x8x8x32xf32>
    %c = tg.conv2d %x, %w, %b {stride = array<i64: 1, 1>, pad = array<i64: 1, 1, 1, 1>, dilation = array<i64: 1, 1>, groups = 1 : i64, sparsity = #tg.sparsity<block = [8, 8], grid = [4, 2], mask = "a5">} : (tensor<1x8x8x16xf32>, tensor<32x3x3x16xf32>, tensor<32xf32>) -> tensor<1x8x8x32xf32>
    // CHECK-NEXT: %dw = tg.weight "dw.weight" : tensor<32x3x3x1xf32>
    %dw = tg.weight "dw.weight" : tensor<32x3x3x1xf32>
    // A depthwise, strided, dilated convolution without bias.
    // CHECK-NEXT: %d = tg.conv2d %c, %dw {stride = array<i64: 2, 2>, pad = array<i64: 2, 2, 2, 2>, dilation = array<i64: 2, 2>, groups = 32 : i64} : (tensor<1x8x8x32xf32>, tensor<32x3x3x1xf32>) -> tensor<1x4x4x32xf32>
    %d = tg.conv2d %c, %dw {stride = array<i64: 2, 2>, pad = array<i64: 2, 2, 2, 2>, dilation = array<i64: 2, 2>, groups = 32 : i64} : (tensor<1x8x8x32xf32>, tensor<32x3x3x1xf32>) -> tensor<1x4x4x32xf32>
    // CHECK-NEXT: %s = tg.weight "bn.scale" : tensor<32xf32>
    %s = tg.weight "bn.scale" : tensor<32xf32>
    // CHECK-NEXT: %t = tg.weight "bn.shift" : tensor<32xf32>
    %t = tg.weight "bn.shift" : tensor<32xf32>
    // CHECK-NEXT: %m = tg.weight "bn.mean" : tensor<32xf32>
    %m = tg.weight "bn.mean" : tensor<32xf32>
    // CHECK-NEXT: %q = tg.weight "bn.var" : tensor<32xf32>
    %q = tg.weight "bn.var" : tensor<32xf32>
    // CHECK-NEXT: %n = tg.batch_norm %d, %s, %t, %m, %q {epsilon = 1.000000e-03 : f32} : (tensor<1x4x4x32xf32>, tensor<32xf32>, tensor<32xf32>, tensor<32xf32>, tensor<32xf32>) -> tensor<1x4x4x32xf32>
    %n = tg.batch_norm %d, %s, %t, %m, %q {epsilon = 1.000000e-03 : f32} : (tensor<1x4x4x32xf32>, tensor<32xf32>, tensor<32xf32>, tensor<32xf32>, tensor<32xf32>) -> tensor<1x4x4x32xf32>
    // CHECK-NEXT: %r = tg.relu %n : (tensor<1x4x4x32xf32>) -> tensor<1x4x4x32xf32>
    %r = tg.relu %n : (tensor<1x4x4x32xf32>) -> tensor<1x4x4x32xf32>
    // CHECK-NEXT: %r6 = tg.clip %r {min = 0.000000e+00 : f32, max = 6.000000e+00 : f32} : (tensor<1x4x4x32xf32>) -> tensor<1x4x4x32xf32>
    %r6 = tg.clip %r {min = 0.0 : f32, max = 6.0 : f32} : (tensor<1x4x4x32xf32>) -> tensor<1x4x4x32xf32>
    // CHECK-NEXT: %sg = tg.sigmoid %r6 : (tensor<1x4x4x32xf32>) -> tensor<1x4x4x32xf32>
    %sg = tg.sigmoid %r6 : (tensor<1x4x4x32xf32>) -> tensor<1x4x4x32xf32>
    // CHECK-NEXT: %hs = tg.hardsigmoid %sg {alpha = 0.166666672 : f32, beta = 5.000000e-01 : f32} : (tensor<1x4x4x32xf32>) -> tensor<1x4x4x32xf32>
    %hs = tg.hardsigmoid %sg {alpha = 0.16666667 : f32, beta = 0.5 : f32} : (tensor<1x4x4x32xf32>) -> tensor<1x4x4x32xf32>
    // CHECK-NEXT: %hw = tg.hardswish %hs : (tensor<1x4x4x32xf32>) -> tensor<1x4x4x32xf32>
    %hw = tg.hardswish %hs : (tensor<1x4x4x32xf32>) -> tensor<1x4x4x32xf32>
    // CHECK-NEXT: %sl = tg.silu %hw : (tensor<1x4x4x32xf32>) -> tensor<1x4x4x32xf32>
    %sl = tg.silu %hw : (tensor<1x4x4x32xf32>) -> tensor<1x4x4x32xf32>
    // CHECK-NEXT: %gp = tg.global_avgpool %sl : (tensor<1x4x4x32xf32>) -> tensor<1x1x1x32xf32>
    %gp = tg.global_avgpool %sl : (tensor<1x4x4x32xf32>) -> tensor<1x1x1x32xf32>
    // CHECK-NEXT: %se = tg.mul %sl, %gp : (tensor<1x4x4x32xf32>, tensor<1x1x1x32xf32>) -> tensor<1x4x4x32xf32>
    %se = tg.mul %sl, %gp : (tensor<1x4x4x32xf32>, tensor<1x1x1x32xf32>) -> tensor<1x4x4x32xf32>
    // CHECK-NEXT: %sq = tg.mul %se, %se : (tensor<1x4x4x32xf32>, tensor<1x4x4x32xf32>) -> tensor<1x4x4x32xf32>
    %sq = tg.mul %se, %se : (tensor<1x4x4x32xf32>, tensor<1x4x4x32xf32>) -> tensor<1x4x4x32xf32>
    // CHECK-NEXT: %df = tg.sub %sq, %gp : (tensor<1x4x4x32xf32>, tensor<1x1x1x32xf32>) -> tensor<1x4x4x32xf32>
    %df = tg.sub %sq, %gp : (tensor<1x4x4x32xf32>, tensor<1x1x1x32xf32>) -> tensor<1x4x4x32xf32>
    // CHECK-NEXT: %lo = tg.channel_slice %sq {start = 0 : i64, stop = 16 : i64} : (tensor<1x4x4x32xf32>) -> tensor<1x4x4x16xf32>
    %lo = tg.channel_slice %sq {start = 0 : i64, stop = 16 : i64} : (tensor<1x4x4x32xf32>) -> tensor<1x4x4x16xf32>
    // CHECK-NEXT: %cs = tg.channel_shuffle %sq {groups = 2 : i64} : (tensor<1x4x4x32xf32>) -> tensor<1x4x4x32xf32>
    %cs = tg.channel_shuffle %sq {groups = 2 : i64} : (tensor<1x4x4x32xf32>) -> tensor<1x4x4x32xf32>
    // CHECK-NEXT: %sum = tg.add %r6, %n : (tensor<1x4x4x32xf32>, tensor<1x4x4x32xf32>) -> tensor<1x4x4x32xf32>
    %sum = tg.add %r6, %n : (tensor<1x4x4x32xf32>, tensor<1x4x4x32xf32>) -> tensor<1x4x4x32xf32>
    // CHECK-NEXT: %mp = tg.maxpool2d %sum {kernel = array<i64: 3, 3>, stride = array<i64: 2, 2>, pad = array<i64: 0, 0, 0, 0>, ceil_mode = 1 : i64} : (tensor<1x4x4x32xf32>) -> tensor<1x2x2x32xf32>
    %mp = tg.maxpool2d %sum {kernel = array<i64: 3, 3>, stride = array<i64: 2, 2>, pad = array<i64: 0, 0, 0, 0>, ceil_mode = 1 : i64} : (tensor<1x4x4x32xf32>) -> tensor<1x2x2x32xf32>
    // CHECK-NEXT: %ap = tg.avgpool2d %sum {kernel = array<i64: 3, 3>, stride = array<i64: 2, 2>, pad = array<i64: 1, 1, 1, 1>, count_include_pad = 0 : i64} : (tensor<1x4x4x32xf32>) -> tensor<1x2x2x32xf32>
    %ap = tg.avgpool2d %sum {kernel = array<i64: 3, 3>, stride = array<i64: 2, 2>, pad = array<i64: 1, 1, 1, 1>, count_include_pad = 0 : i64} : (tensor<1x4x4x32xf32>) -> tensor<1x2x2x32xf32>
    // CHECK-NEXT: %cat = tg.concat %mp, %ap {axis = 3 : i64} : (tensor<1x2x2x32xf32>, tensor<1x2x2x32xf32>) -> tensor<1x2x2x64xf32>
    %cat = tg.concat %mp, %ap {axis = 3 : i64} : (tensor<1x2x2x32xf32>, tensor<1x2x2x32xf32>) -> tensor<1x2x2x64xf32>
    // CHECK-NEXT: %gap = tg.global_avgpool %cat : (tensor<1x2x2x64xf32>) -> tensor<1x1x1x64xf32>
    %gap = tg.global_avgpool %cat : (tensor<1x2x2x64xf32>) -> tensor<1x1x1x64xf32>
    // CHECK-NEXT: %flat = tg.flatten %gap : (tensor<1x1x1x64xf32>) -> tensor<1x64xf32>
    %flat = tg.flatten %gap : (tensor<1x1x1x64xf32>) -> tensor<1x64xf32>
    // CHECK-NEXT: %fw = tg.weight "fc.weight" : tensor<10x64xf32>
    %fw = tg.weight "fc.weight" : tensor<10x64xf32>
    // CHECK-NEXT: %fc = tg.matmul %flat, %fw : (tensor<1x64xf32>, tensor<10x64xf32>) -> tensor<1x10xf32>
    %fc = tg.matmul %flat, %fw : (tensor<1x64xf32>, tensor<10x64xf32>) -> tensor<1x10xf32>
    // CHECK-NEXT: %vr = tg.reshape %v : (tensor<2x64xf32>) -> tensor<2x4x4x4xf32>
    %vr = tg.reshape %v : (tensor<2x64xf32>) -> tensor<2x4x4x4xf32>
    // CHECK-NEXT: %vf = tg.flatten %vr : (tensor<2x4x4x4xf32>) -> tensor<2x64xf32>
    %vf = tg.flatten %vr : (tensor<2x4x4x4xf32>) -> tensor<2x64xf32>
    // CHECK-NEXT: %vw = tg.weight "v.weight" : tensor<32x64xf32>
    %vw = tg.weight "v.weight" : tensor<32x64xf32>
    // CHECK-NEXT: %vb = tg.weight "v.bias" : tensor<32xf32>
    %vb = tg.weight "v.bias" : tensor<32xf32>
    // CHECK-NEXT: %vm = tg.matmul %vf, %vw, %vb : (tensor<2x64xf32>, tensor<32x64xf32>, tensor<32xf32>) -> tensor<2x32xf32>
    %vm = tg.matmul %vf, %vw, %vb : (tensor<2x64xf32>, tensor<32x64xf32>, tensor<32xf32>) -> tensor<2x32xf32>
    // CHECK-NEXT: tg.output %fc, %vm : tensor<1x10xf32>, tensor<2x32xf32>
    tg.output %fc, %vm : tensor<1x10xf32>, tensor<2x32xf32>
  }
}
