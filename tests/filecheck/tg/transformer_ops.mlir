// The transformer ops print and parse back to the same text, in custom and generic form.
// RUN: bsir-opt %s | filecheck %s
// RUN: bsir-opt %s | bsir-opt | filecheck %s
// RUN: bsir-opt %s --print-op-generic | bsir-opt | filecheck %s

builtin.module attributes {tg.weights = "vit.npz"} {
  // CHECK-LABEL: tg.graph @attention(%x: tensor<17x64xf32>) -> (tensor<1x64xf32>) {
  tg.graph @attention(%x: tensor<17x64xf32>) -> (tensor<1x64xf32>) {
    // CHECK-NEXT: %w = tg.weight "ln.weight" : tensor<64xf32>
    %w = tg.weight "ln.weight" : tensor<64xf32>
    // CHECK-NEXT: %b = tg.weight "ln.bias" : tensor<64xf32>
    %b = tg.weight "ln.bias" : tensor<64xf32>
    // CHECK-NEXT: %n = tg.layer_norm %x, %w, %b {epsilon = 1.000000e-06 : f32} : (tensor<17x64xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<17x64xf32>
    %n = tg.layer_norm %x, %w, %b {epsilon = 1.000000e-06 : f32} : (tensor<17x64xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<17x64xf32>
    // CHECK-NEXT: %r = tg.reshape %n : (tensor<17x64xf32>) -> tensor<17x4x16xf32>
    %r = tg.reshape %n : (tensor<17x64xf32>) -> tensor<17x4x16xf32>
    // CHECK-NEXT: %q = tg.transpose %r {perm = array<i64: 1, 0, 2>} : (tensor<17x4x16xf32>) -> tensor<4x17x16xf32>
    %q = tg.transpose %r {perm = array<i64: 1, 0, 2>} : (tensor<17x4x16xf32>) -> tensor<4x17x16xf32>
    // CHECK-NEXT: %k = tg.transpose %r {perm = array<i64: 1, 2, 0>} : (tensor<17x4x16xf32>) -> tensor<4x16x17xf32>
    %k = tg.transpose %r {perm = array<i64: 1, 2, 0>} : (tensor<17x4x16xf32>) -> tensor<4x16x17xf32>
    // CHECK-NEXT: %s = tg.batch_matmul %q, %k : (tensor<4x17x16xf32>, tensor<4x16x17xf32>) -> tensor<4x17x17xf32>
    %s = tg.batch_matmul %q, %k : (tensor<4x17x16xf32>, tensor<4x16x17xf32>) -> tensor<4x17x17xf32>
    // CHECK-NEXT: %p = tg.softmax %s : (tensor<4x17x17xf32>) -> tensor<4x17x17xf32>
    %p = tg.softmax %s : (tensor<4x17x17xf32>) -> tensor<4x17x17xf32>
    // CHECK-NEXT: %a = tg.batch_matmul %p, %q : (tensor<4x17x17xf32>, tensor<4x17x16xf32>) -> tensor<4x17x16xf32>
    %a = tg.batch_matmul %p, %q : (tensor<4x17x17xf32>, tensor<4x17x16xf32>) -> tensor<4x17x16xf32>
    // CHECK-NEXT: %t = tg.transpose %a {perm = array<i64: 1, 0, 2>} : (tensor<4x17x16xf32>) -> tensor<17x4x16xf32>
    %t = tg.transpose %a {perm = array<i64: 1, 0, 2>} : (tensor<4x17x16xf32>) -> tensor<17x4x16xf32>
    // CHECK-NEXT: %j = tg.reshape %t : (tensor<17x4x16xf32>) -> tensor<17x64xf32>
    %j = tg.reshape %t : (tensor<17x4x16xf32>) -> tensor<17x64xf32>
    // CHECK-NEXT: %g = tg.gelu %j : (tensor<17x64xf32>) -> tensor<17x64xf32>
    %g = tg.gelu %j : (tensor<17x64xf32>) -> tensor<17x64xf32>
    // CHECK-NEXT: %h = tg.gelu %g {tanh} : (tensor<17x64xf32>) -> tensor<17x64xf32>
    %h = tg.gelu %g {tanh} : (tensor<17x64xf32>) -> tensor<17x64xf32>
    // CHECK-NEXT: %c = tg.slice %h {axis = 0 : i64, start = 0 : i64, stop = 1 : i64} : (tensor<17x64xf32>) -> tensor<1x64xf32>
    %c = tg.slice %h {axis = 0 : i64, start = 0 : i64, stop = 1 : i64} : (tensor<17x64xf32>) -> tensor<1x64xf32>
    // CHECK-NEXT: %e = tg.slice %h {axis = 0 : i64, start = 1 : i64, stop = 17 : i64, step = 2 : i64} : (tensor<17x64xf32>) -> tensor<8x64xf32>
    %e = tg.slice %h {axis = 0 : i64, start = 1 : i64, stop = 17 : i64, step = 2 : i64} : (tensor<17x64xf32>) -> tensor<8x64xf32>
    // CHECK-NEXT: %f = tg.tanh %e : (tensor<8x64xf32>) -> tensor<8x64xf32>
    %f = tg.tanh %e : (tensor<8x64xf32>) -> tensor<8x64xf32>
    // CHECK-NEXT: tg.output %c : tensor<1x64xf32>
    tg.output %c : tensor<1x64xf32>
  }
}
