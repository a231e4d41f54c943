// tg-quantize turns the folded float graph into int8 between a quantize and a dequantize.
// RUN: bsir export tiny_resnet -o %t.mlir
// RUN: bsir-opt %t.mlir --pass-pipeline='builtin.module(tg-fold-batchnorm, tg-quantize{method=mse samples=2})' | filecheck %s
// RUN: not bsir-opt %t.mlir -p tg-quantize 2>&1 | filecheck %s --check-prefix=UNFOLDED

// CHECK: builtin.module attributes {tg.weights = "{{.*}}.folded.int8.{{[0-9a-f]+}}.npz"}
// CHECK: tg.graph @tiny_resnet(%{{.*}}: tensor<1x16x16x3xf32>) -> (tensor<1x10xf32>)
// CHECK-NEXT: %[[X:.*]] = tg.quantize %{{.*}} {fix = [[FIX:-?[0-9]+]] : i64} : (tensor<1x16x16x3xf32>) -> tensor<1x16x16x3xi8>
// CHECK: tg.weight "conv1.weight" : tensor<16x3x3x3xi8>
// CHECK: tg.weight "conv1.bias" : tensor<16xi32>
// CHECK-NEXT: tg.conv2d %[[X]], {{.*}}quant = #tg.quant<inputs = [[[FIX]]], weight = {{-?[0-9]+}}, bias = {{-?[0-9]+}}, output = {{-?[0-9]+}}>{{.*}} -> tensor<1x16x16x16xi8>
// CHECK: tg.add {{.*}}quant = #tg.quant<inputs = [{{-?[0-9]+}}, {{-?[0-9]+}}], output = {{-?[0-9]+}}>
// CHECK: tg.flatten {{.*}} -> tensor<1x64xi8>
// CHECK: tg.matmul {{.*}} -> tensor<1x10xi8>
// CHECK-NEXT: tg.dequantize {{.*}} -> tensor<1x10xf32>
// CHECK-NEXT: tg.output

// UNFOLDED: error: tg-quantize: the graph still has batch norm 'bn1.weight'; run tg-fold-batchnorm first
