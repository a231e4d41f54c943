// tg-fold-batchnorm: a batch norm after a concatenation cannot fold into a layer before
// it; it becomes the per-channel affine map it computes, a depthwise 1x1 convolution
// (groups = channels) with weight scale / sqrt(var + eps) and bias shift - mean * that.
// RUN: rm -rf %t && mkdir -p %t && cp %s %t/bn.mlir
// RUN: python -c "import numpy as np; np.savez('%t/bn.npz', **{'bn.weight': np.full(8, 2, np.float32), 'bn.bias': np.ones(8, np.float32), 'bn.running_mean': np.full(8, 0.5, np.float32), 'bn.running_var': np.full(8, 3, np.float32)})"
// RUN: bsir-opt %t/bn.mlir -p tg-fold-batchnorm | filecheck %s
// RUN: bsir-opt %t/bn.mlir -p tg-fold-batchnorm -o %t/out.mlir
// RUN: python -c "import numpy as np; z = np.load('%t/out.npz'); w, b = z['bn.affine.weight'], z['bn.affine.bias']; assert w.shape == (8, 1, 1, 1) and np.allclose(w, 2 / np.sqrt(3 + 1e-5)) and np.allclose(b, 1 - 0.5 * w.ravel()), (w, b)"

builtin.module attributes {tg.weights = "bn.npz"} {
  tg.graph @standalone(%0: tensor<1x4x4x4xf32>) -> (tensor<1x4x4x8xf32>) {
    %1 = tg.relu %0 : (tensor<1x4x4x4xf32>) -> tensor<1x4x4x4xf32>
    %2 = tg.concat %0, %1 {axis = 3 : i64} : (tensor<1x4x4x4xf32>, tensor<1x4x4x4xf32>) -> tensor<1x4x4x8xf32>
    %3 = tg.weight "bn.weight" : tensor<8xf32>
    %4 = tg.weight "bn.bias" : tensor<8xf32>
    %5 = tg.weight "bn.running_mean" : tensor<8xf32>
    %6 = tg.weight "bn.running_var" : tensor<8xf32>
    %7 = tg.batch_norm %2, %3, %4, %5, %6 {epsilon = 1.000000e-05 : f32} : (tensor<1x4x4x8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<1x4x4x8xf32>
    tg.output %7 : tensor<1x4x4x8xf32>
  }
}

// CHECK: tg.concat
// CHECK-NEXT: tg.weight "bn.affine.weight" : tensor<8x1x1x1xf32>
// CHECK-NEXT: tg.weight "bn.affine.bias" : tensor<8xf32>
// CHECK-NEXT: tg.conv2d %{{.*}}, %{{.*}}, %{{.*}} {stride = array<i64: 1, 1>, pad = array<i64: 0, 0, 0, 0>, dilation = array<i64: 1, 1>, groups = 8 : i64} : (tensor<1x4x4x8xf32>, tensor<8x1x1x1xf32>, tensor<8xf32>) -> tensor<1x4x4x8xf32>
// CHECK-NOT: tg.batch_norm
