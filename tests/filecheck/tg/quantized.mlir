// An int8 layer: i8 activations and weights, an i32 bias and fix positions.
// RUN: bsir-opt %s | bsir-opt | filecheck %s
// RUN: bsir-opt %s --print-op-generic | bsir-opt | filecheck %s

builtin.module attributes {tg.weights = "q.npz"} {
  // CHECK: tg.graph @f(%f: tensor<1x4x4x8xf32>) -> (tensor<1x4x4x8xf32>)
  tg.graph @f(%f: tensor<1x4x4x8xf32>) -> (tensor<1x4x4x8xf32>) {
    // CHECK-NEXT: %i = tg.quantize %f {fix = 5 : i64} : (tensor<1x4x4x8xf32>) -> tensor<1x4x4x8xi8>
    %i = tg.quantize %f {fix = 5 : i64} : (tensor<1x4x4x8xf32>) -> tensor<1x4x4x8xi8>
    // CHECK-NEXT: %r = tg.relu %i {quant = #tg.quant<inputs = [5], output = 5>}
    %r = tg.relu %i {quant = #tg.quant<inputs = [5], output = 5>} : (tensor<1x4x4x8xi8>) -> tensor<1x4x4x8xi8>
    // CHECK-NEXT: %o = tg.dequantize %r {fix = 5 : i64} : (tensor<1x4x4x8xi8>) -> tensor<1x4x4x8xf32>
    %o = tg.dequantize %r {fix = 5 : i64} : (tensor<1x4x4x8xi8>) -> tensor<1x4x4x8xf32>
    tg.output %o : tensor<1x4x4x8xf32>
  }
  tg.graph @q(%x: tensor<1x4x4x8xi8>) -> (tensor<1x4x4x16xi8>) {
    %w = tg.weight "w" : tensor<16x1x1x8xi8>
    %b = tg.weight "b" : tensor<16xi32>
    // CHECK: tg.conv2d %x, %w, %b {{{.*}}quant = #tg.quant<inputs = [5], weight = 7, bias = 12, output = 4>} : (tensor<1x4x4x8xi8>, tensor<16x1x1x8xi8>, tensor<16xi32>) -> tensor<1x4x4x16xi8>
    %c = tg.conv2d %x, %w, %b {stride = array<i64: 1, 1>, pad = array<i64: 0, 0, 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64, quant = #tg.quant<inputs = [5], weight = 7, bias = 12, output = 4>} : (tensor<1x4x4x8xi8>, tensor<16x1x1x8xi8>, tensor<16xi32>) -> tensor<1x4x4x16xi8>
    // CHECK: tg.relu %c {quant = #tg.quant<inputs = [4], output = 4>}
    %r = tg.relu %c {quant = #tg.quant<inputs = [4], output = 4>} : (tensor<1x4x4x16xi8>) -> tensor<1x4x4x16xi8>
    // CHECK: tg.add %r, %c {quant = #tg.quant<inputs = [4, 4], output = 3>}
    %a = tg.add %r, %c {quant = #tg.quant<inputs = [4, 4], output = 3>} : (tensor<1x4x4x16xi8>, tensor<1x4x4x16xi8>) -> tensor<1x4x4x16xi8>
    tg.output %a : tensor<1x4x4x16xi8>
  }
}
