// tg-fold-batchnorm removes every batch norm, giving each convolution a bias.
// RUN: bsir export tiny_resnet -o %t.mlir
// RUN: bsir-opt %t.mlir --pass-pipeline='builtin.module(tg-fold-batchnorm)' | filecheck %s

// CHECK: builtin.module attributes {tg.weights = "{{.*}}.folded.{{[0-9a-f]+}}.npz"}
// CHECK: tg.weight "conv1.bias" : tensor<16xf32>
// CHECK-NEXT: %{{.*}} = tg.conv2d %{{.*}}, %{{.*}}, %{{.*}} {{.*}} -> tensor<1x16x16x16xf32>
// CHECK-NEXT: tg.relu
// CHECK-NOT: tg.batch_norm
// CHECK-NOT: running_mean
