// tg-quantize on a vision transformer: layer norms with an int8 weight and an int32 bias,
// attention's products of activations and its softmax in integers, GELU as a table, the
// class token and positions as int8 data; transposes, reshapes and slices move bytes.
// RUN: bsir export vit_tiny -o %t.mlir
// RUN: bsir-opt %t.mlir -p 'tg-quantize{samples=1}' | filecheck %s
// RUN: bsir-opt %t.mlir -p 'tg-quantize{samples=1}' | bsir-opt | filecheck %s

// CHECK: tg.graph @vit_tiny(%{{.*}}: tensor<1x32x32x3xf32>) -> (tensor<1x10xf32>)
// CHECK: %[[TOKEN:.*]] = tg.weight "class_token" : tensor<1x64xi8>
// CHECK-NEXT: tg.concat %[[TOKEN]], %{{.*}} {axis = 0 : i64, quant = #tg.quant<inputs = [{{-?[0-9]+}}, {{-?[0-9]+}}], output = {{-?[0-9]+}}>}
// CHECK-NEXT: tg.weight "encoder.pos_embedding" : tensor<17x64xi8>
// CHECK-NEXT: tg.add
// CHECK: tg.weight "encoder.layers.encoder_layer_0.ln_1.weight" : tensor<64xi8>
// CHECK-NEXT: tg.weight "encoder.layers.encoder_layer_0.ln_1.bias" : tensor<64xi32>
// CHECK-NEXT: tg.layer_norm {{.*}}quant = #tg.quant<inputs = [{{-?[0-9]+}}], weight = {{-?[0-9]+}}, bias = {{-?[0-9]+}}, output = {{-?[0-9]+}}>} : (tensor<17x64xi8>, tensor<64xi8>, tensor<64xi32>) -> tensor<17x64xi8>
// CHECK: tg.transpose %{{.*}} {perm = array<i64: 1, 0, 2>} : (tensor<17x4x16xi8>) -> tensor<4x17x16xi8>
// CHECK: %[[SCORES:.*]] = tg.batch_matmul {{.*}}quant = #tg.quant<inputs = [{{-?[0-9]+}}, {{-?[0-9]+}}], output = {{-?[0-9]+}}>} : (tensor<4x17x16xi8>, tensor<4x16x17xi8>) -> tensor<4x17x17xi8>
// CHECK-NEXT: tg.softmax %[[SCORES]] {quant = #tg.quant<inputs = [{{-?[0-9]+}}], output = {{-?[0-9]+}}>} : (tensor<4x17x17xi8>) -> tensor<4x17x17xi8>
// CHECK-NEXT: tg.batch_matmul
// CHECK: tg.gelu {{.*}} -> tensor<17x128xi8>
// CHECK: tg.slice %{{.*}} {axis = 0 : i64, start = 0 : i64, stop = 1 : i64} : (tensor<17x64xi8>) -> tensor<1x64xi8>
// CHECK: tg.matmul {{.*}} -> tensor<1x10xi8>
// CHECK-NEXT: tg.dequantize {{.*}} -> tensor<1x10xf32>
