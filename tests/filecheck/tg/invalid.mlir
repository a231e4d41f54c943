// Invalid tg IR: each case gives one located error and bsir-opt goes on to the next.
// RUN: bsir-opt %s --split-input-file --verify-diagnostics | filecheck %s

// conv result shape
builtin.module attributes {tg.weights = "w.npz"} {
  tg.graph @g(%x: tensor<1x8x8x4xf32>) -> (tensor<1x8x8x4xf32>) {
    %w = tg.weight "w" : tensor<8x3x3x4xf32>
    // CHECK: invalid.mlir:[[# @LINE + 1]]:5: error: 'tg.conv2d': result type tensor<1x8x8x8xf32> does not match the inferred tensor<1x6x6x8xf32>
    %y = tg.conv2d %x, %w {stride = array<i64: 1, 1>, pad = array<i64: 0, 0, 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x8x8x4xf32>, tensor<8x3x3x4xf32>) -> tensor<1x8x8x8xf32>
    tg.output %x : tensor<1x8x8x4xf32>
  }
}

// -----

// conv input channels
builtin.module attributes {tg.weights = "w.npz"} {
  tg.graph @g(%x: tensor<1x8x8x4xf32>) -> (tensor<1x8x8x4xf32>) {
    %w = tg.weight "w" : tensor<8x3x3x5xf32>
    // CHECK: invalid.mlir:[[# @LINE + 1]]:5: error: 'tg.conv2d': weight has 5 input channels but the input has 4 channels in 1 group(s) (4 per group)
    %y = tg.conv2d %x, %w {stride = array<i64: 1, 1>, pad = array<i64: 1, 1, 1, 1>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x8x8x4xf32>, tensor<8x3x3x5xf32>) -> tensor<1x8x8x8xf32>
    tg.output %x : tensor<1x8x8x4xf32>
  }
}

// -----

// conv groups
builtin.module attributes {tg.weights = "w.npz"} {
  tg.graph @g(%x: tensor<1x8x8x4xf32>) -> (tensor<1x8x8x4xf32>) {
    %w = tg.weight "w" : tensor<8x3x3x2xf32>
    // CHECK: invalid.mlir:[[# @LINE + 1]]:5: error: 'tg.conv2d': groups 3 must divide input channels 4 and output channels 8
    %y = tg.conv2d %x, %w {stride = array<i64: 1, 1>, pad = array<i64: 1, 1, 1, 1>, dilation = array<i64: 1, 1>, groups = 3 : i64} : (tensor<1x8x8x4xf32>, tensor<8x3x3x2xf32>) -> tensor<1x8x8x8xf32>
    tg.output %x : tensor<1x8x8x4xf32>
  }
}

// -----

// conv bias
builtin.module attributes {tg.weights = "w.npz"} {
  tg.graph @g(%x: tensor<1x8x8x4xf32>) -> (tensor<1x8x8x4xf32>) {
    %w = tg.weight "w" : tensor<8x1x1x4xf32>
    %b = tg.weight "b" : tensor<4xf32>
    // CHECK: invalid.mlir:[[# @LINE + 1]]:5: error: 'tg.conv2d': bias must have shape [8], got [4]
    %y = tg.conv2d %x, %w, %b {stride = array<i64: 1, 1>, pad = array<i64: 0, 0, 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x8x8x4xf32>, tensor<8x1x1x4xf32>, tensor<4xf32>) -> tensor<1x8x8x8xf32>
    tg.output %x : tensor<1x8x8x4xf32>
  }
}

// -----

// conv stride zero
builtin.module attributes {tg.weights = "w.npz"} {
  tg.graph @g(%x: tensor<1x8x8x4xf32>) -> (tensor<1x8x8x4xf32>) {
    %w = tg.weight "w" : tensor<8x1x1x4xf32>
    // CHECK: invalid.mlir:[[# @LINE + 1]]:5: error: 'tg.conv2d': stride values must be >= 1, got [0, 1]
    %y = tg.conv2d %x, %w {stride = array<i64: 0, 1>, pad = array<i64: 0, 0, 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x8x8x4xf32>, tensor<8x1x1x4xf32>) -> tensor<1x8x8x8xf32>
    tg.output %x : tensor<1x8x8x4xf32>
  }
}

// -----

// conv kernel larger than input
builtin.module attributes {tg.weights = "w.npz"} {
  tg.graph @g(%x: tensor<1x8x8x4xf32>) -> (tensor<1x8x8x4xf32>) {
    %w = tg.weight "w" : tensor<8x11x11x4xf32>
    // CHECK: invalid.mlir:[[# @LINE + 1]]:5: error: 'tg.conv2d': window 11 is larger than the padded input 8
    %y = tg.conv2d %x, %w {stride = array<i64: 1, 1>, pad = array<i64: 0, 0, 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x8x8x4xf32>, tensor<8x11x11x4xf32>) -> tensor<1x1x1x8xf32>
    tg.output %x : tensor<1x8x8x4xf32>
  }
}

// -----

// sparsity grid
builtin.module attributes {tg.weights = "w.npz"} {
  tg.graph @g(%x: tensor<1x8x8x4xf32>) -> (tensor<1x8x8x4xf32>) {
    %w = tg.weight "w" : tensor<16x1x1x4xf32>
    // CHECK: invalid.mlir:[[# @LINE + 1]]:5: error: 'tg.conv2d': #tg.sparsity grid [1, 1] does not cover a 16x4 weight in [8, 8] blocks (expected [2, 1])
    %y = tg.conv2d %x, %w {stride = array<i64: 1, 1>, pad = array<i64: 0, 0, 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64, sparsity = #tg.sparsity<block = [8, 8], grid = [1, 1], mask = "80">} : (tensor<1x8x8x4xf32>, tensor<16x1x1x4xf32>) -> tensor<1x8x8x16xf32>
    tg.output %x : tensor<1x8x8x4xf32>
  }
}

// -----

// sparsity mask length
builtin.module attributes {tg.weights = "w.npz"} {
  tg.graph @g(%x: tensor<1x8x8x4xf32>) -> (tensor<1x8x8x4xf32>) {
    %w = tg.weight "w" : tensor<16x1x1x4xf32>
    // CHECK: invalid.mlir:[[# @LINE + 1]]:5: error: sparsity mask has 2 bytes, a 2x1 grid needs 1
    %y = tg.conv2d %x, %w {stride = array<i64: 1, 1>, pad = array<i64: 0, 0, 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64, sparsity = #tg.sparsity<block = [8, 8], grid = [2, 1], mask = "8000">} : (tensor<1x8x8x4xf32>, tensor<16x1x1x4xf32>) -> tensor<1x8x8x16xf32>
    tg.output %x : tensor<1x8x8x4xf32>
  }
}

// -----

// i8 without quant
builtin.module attributes {tg.weights = "w.npz"} {
  tg.graph @g(%x: tensor<1x8x8x4xf32>, %w8: tensor<1x8x8x4xi8>) -> (tensor<1x8x8x4xf32>) {
    %c = tg.relu %x : (tensor<1x8x8x4xf32>) -> tensor<1x8x8x4xf32>
    %w = tg.weight "w" : tensor<8x1x1x4xi8>
    // CHECK: invalid.mlir:[[# @LINE + 1]]:5: error: 'tg.relu': i8 'tg.relu' needs a #tg.quant attribute
    %q = tg.relu %w8 : (tensor<1x8x8x4xi8>) -> tensor<1x8x8x4xi8>
    tg.output %x : tensor<1x8x8x4xf32>
  }
}

// -----

// quant without weight position
builtin.module attributes {tg.weights = "w.npz"} {
  tg.graph @g(%x: tensor<1x8x8x4xf32>) -> (tensor<1x8x8x4xf32>) {
    %w = tg.weight "w" : tensor<8x1x1x4xf32>
    // CHECK: invalid.mlir:[[# @LINE + 1]]:5: error: 'tg.conv2d': #tg.quant of 'tg.conv2d' needs a weight fix position
    %y = tg.conv2d %x, %w {stride = array<i64: 1, 1>, pad = array<i64: 0, 0, 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64, quant = #tg.quant<inputs = [5], output = 4>} : (tensor<1x8x8x4xf32>, tensor<8x1x1x4xf32>) -> tensor<1x8x8x8xf32>
    tg.output %x : tensor<1x8x8x4xf32>
  }
}

// -----

// quant input count
builtin.module attributes {tg.weights = "w.npz"} {
  tg.graph @g(%x: tensor<1x8x8x4xf32>) -> (tensor<1x8x8x4xf32>) {
    // CHECK: invalid.mlir:[[# @LINE + 1]]:5: error: 'tg.relu': #tg.quant gives 2 input fix position(s), 'tg.relu' has 1 activation input(s)
    %y = tg.relu %x {quant = #tg.quant<inputs = [5, 5], output = 4>} : (tensor<1x8x8x4xf32>) -> tensor<1x8x8x4xf32>
    tg.output %x : tensor<1x8x8x4xf32>
  }
}

// -----

// pool padding
builtin.module attributes {tg.weights = "w.npz"} {
  tg.graph @g(%x: tensor<1x8x8x4xf32>) -> (tensor<1x8x8x4xf32>) {
    // CHECK: invalid.mlir:[[# @LINE + 1]]:5: error: 'tg.maxpool2d': pad [2, 0, 0, 0] must be at most half of the kernel [2, 2]
    %y = tg.maxpool2d %x {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>, pad = array<i64: 2, 0, 0, 0>} : (tensor<1x8x8x4xf32>) -> tensor<1x5x4x4xf32>
    tg.output %x : tensor<1x8x8x4xf32>
  }
}

// -----

// add shapes
builtin.module attributes {tg.weights = "w.npz"} {
  tg.graph @g(%x: tensor<1x8x8x4xf32>) -> (tensor<1x8x8x4xf32>) {
    %p = tg.maxpool2d %x {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>, pad = array<i64: 0, 0, 0, 0>} : (tensor<1x8x8x4xf32>) -> tensor<1x4x4x4xf32>
    // CHECK: invalid.mlir:[[# @LINE + 1]]:5: error: 'tg.add': add operands differ in shape: [1, 8, 8, 4] and [1, 4, 4, 4]
    %y = tg.add %x, %p : (tensor<1x8x8x4xf32>, tensor<1x4x4x4xf32>) -> tensor<1x8x8x4xf32>
    tg.output %x : tensor<1x8x8x4xf32>
  }
}

// -----

// concat shapes
builtin.module attributes {tg.weights = "w.npz"} {
  tg.graph @g(%x: tensor<1x8x8x4xf32>) -> (tensor<1x8x8x4xf32>) {
    %p = tg.maxpool2d %x {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>, pad = array<i64: 0, 0, 0, 0>} : (tensor<1x8x8x4xf32>) -> tensor<1x4x4x4xf32>
    // CHECK: invalid.mlir:[[# @LINE + 1]]:5: error: 'tg.concat': concat input 1 has shape [1, 4, 4, 4], which differs from [1, 8, 8, 4] outside axis 3
    %y = tg.concat %x, %p {axis = 3 : i64} : (tensor<1x8x8x4xf32>, tensor<1x4x4x4xf32>) -> tensor<1x8x8x8xf32>
    tg.output %x : tensor<1x8x8x4xf32>
  }
}

// -----

// clip bounds
builtin.module attributes {tg.weights = "w.npz"} {
  tg.graph @g(%x: tensor<1x8x8x4xf32>) -> (tensor<1x8x8x4xf32>) {
    // CHECK: invalid.mlir:[[# @LINE + 1]]:5: error: 'tg.clip': clip min 6.0 is greater than max 0.0
    %y = tg.clip %x {min = 6.0 : f32, max = 0.0 : f32} : (tensor<1x8x8x4xf32>) -> tensor<1x8x8x4xf32>
    tg.output %x : tensor<1x8x8x4xf32>
  }
}

// -----

// reshape count
builtin.module attributes {tg.weights = "w.npz"} {
  tg.graph @g(%x: tensor<1x8x8x4xf32>) -> (tensor<1x8x8x4xf32>) {
    // CHECK: invalid.mlir:[[# @LINE + 1]]:5: error: 'tg.reshape': reshape from [1, 8, 8, 4] to [1, 255] changes the element count
    %y = tg.reshape %x : (tensor<1x8x8x4xf32>) -> tensor<1x255xf32>
    tg.output %x : tensor<1x8x8x4xf32>
  }
}

// -----

// matmul features
builtin.module attributes {tg.weights = "w.npz"} {
  tg.graph @g(%x: tensor<1x8x8x4xf32>) -> (tensor<1x8x8x4xf32>) {
    %f = tg.flatten %x : (tensor<1x8x8x4xf32>) -> tensor<1x256xf32>
    %w = tg.weight "w" : tensor<10x255xf32>
    // CHECK: invalid.mlir:[[# @LINE + 1]]:5: error: 'tg.matmul': matmul input has 256 features but the weight expects 255
    %y = tg.matmul %f, %w : (tensor<1x256xf32>, tensor<10x255xf32>) -> tensor<1x10xf32>
    tg.output %x : tensor<1x8x8x4xf32>
  }
}

// -----

// batch norm shape
builtin.module attributes {tg.weights = "w.npz"} {
  tg.graph @g(%x: tensor<1x8x8x4xf32>) -> (tensor<1x8x8x4xf32>) {
    %s = tg.weight "s" : tensor<3xf32>
    // CHECK: invalid.mlir:[[# @LINE + 1]]:5: error: 'tg.batch_norm': batch_norm scale must have shape [4], got [3]
    %y = tg.batch_norm %x, %s, %s, %s, %s {epsilon = 1.0e-05 : f32} : (tensor<1x8x8x4xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>) -> tensor<1x8x8x4xf32>
    tg.output %x : tensor<1x8x8x4xf32>
  }
}

// -----

// empty weight key
builtin.module attributes {tg.weights = "w.npz"} {
  tg.graph @g(%x: tensor<1x8x8x4xf32>) -> (tensor<1x8x8x4xf32>) {
    // CHECK: invalid.mlir:[[# @LINE + 1]]:5: error: 'tg.weight': a weight key must not be empty
    %w = tg.weight "" : tensor<4xf32>
    tg.output %x : tensor<1x8x8x4xf32>
  }
}

// -----

// dynamic shape
builtin.module attributes {tg.weights = "w.npz"} {
  tg.graph @g(%x: tensor<1x8x8x4xf32>) -> (tensor<1x8x8x4xf32>) {
    // CHECK: invalid.mlir:[[# @LINE + 1]]:5: error: 'tg.weight': weight must have a static shape, got tensor<?x4xf32>
    %w = tg.weight "w" : tensor<?x4xf32>
    tg.output %x : tensor<1x8x8x4xf32>
  }
}

// -----

// element type
builtin.module attributes {tg.weights = "w.npz"} {
  tg.graph @g(%x: tensor<1x8x8x4xf32>) -> (tensor<1x8x8x4xf32>) {
    // CHECK: invalid.mlir:[[# @LINE + 1]]:5: error: 'tg.weight': weight must hold f32, i8 or i32, got f16
    %w = tg.weight "w" : tensor<4xf16>
    tg.output %x : tensor<1x8x8x4xf32>
  }
}

// -----

// a graph's weights need a weights file on the module
builtin.module {
  // CHECK: invalid.mlir:[[# @LINE + 1]]:3: error: 'tg.graph': graph references weights but its module names no weights file
  tg.graph @g(%x: tensor<4xf32>) -> (tensor<4xf32>) {
    %w = tg.weight "w" : tensor<4xf32>
    tg.output %w : tensor<4xf32>
  }
}

// -----

// outputs must match the graph signature
builtin.module {
  // CHECK: invalid.mlir:[[# @LINE + 1]]:3: error: 'tg.graph': tg.output types must match the graph result types
  tg.graph @g(%x: tensor<4xf32>) -> (tensor<8xf32>) {
    tg.output %x : tensor<4xf32>
  }
}

// -----

// an unknown op
builtin.module {
  tg.graph @g(%x: tensor<4xf32>) -> (tensor<4xf32>) {
    // CHECK: invalid.mlir:[[# @LINE + 1]]:5: error: Operation tg.frobnicate is not registered
    %y = tg.frobnicate %x : (tensor<4xf32>) -> tensor<4xf32>
    tg.output %y : tensor<4xf32>
  }
}

// -----

// malformed attribute syntax
builtin.module {
  tg.graph @g(%x: tensor<4xf32>) -> (tensor<4xf32>) {
    // CHECK: invalid.mlir:[[# @LINE + 1]]:65: error: #tg.quant needs an 'output' fix position
    %y = tg.relu %x {quant = #tg.quant<inputs = [1], weight = 2>} : (tensor<4xf32>) -> tensor<4xf32>
    tg.output %y : tensor<4xf32>
  }
}

// -----

// fix positions must agree along an edge
builtin.module {
  tg.graph @g(%x: tensor<4xf32>) -> (tensor<4xf32>) {
    %q = tg.quantize %x {fix = 3 : i64} : (tensor<4xf32>) -> tensor<4xi8>
    // CHECK: invalid.mlir:[[# @LINE + 1]]:5: error: 'tg.relu': input 0 is produced at fix position 3 but #tg.quant reads it at 4
    %r = tg.relu %q {quant = #tg.quant<inputs = [4], output = 4>} : (tensor<4xi8>) -> tensor<4xi8>
    %d = tg.dequantize %r {fix = 4 : i64} : (tensor<4xi8>) -> tensor<4xf32>
    tg.output %d : tensor<4xf32>
  }
}

// -----

// quantize takes f32
builtin.module {
  tg.graph @g(%x: tensor<4xi8>) -> (tensor<4xi8>) {
    // CHECK: invalid.mlir:[[# @LINE + 1]]:5: error: 'tg.quantize': 'tg.quantize' takes f32 tensors
    %q = tg.quantize %x {fix = 3 : i64} : (tensor<4xi8>) -> tensor<4xi8>
    tg.output %q : tensor<4xi8>
  }
}

// -----

// a table function keeps its input's shape; its coefficients are finite
builtin.module attributes {tg.weights = "w.npz"} {
  tg.graph @g(%x: tensor<1x8x8x4xf32>) -> (tensor<1x8x8x4xf32>) {
    // CHECK: invalid.mlir:[[# @LINE + 1]]:5: error: 'tg.sigmoid': result type tensor<1x8x4x8xf32> does not match the inferred tensor<1x8x8x4xf32>
    %s = tg.sigmoid %x : (tensor<1x8x8x4xf32>) -> tensor<1x8x4x8xf32>
    tg.output %x : tensor<1x8x8x4xf32>
  }
}

// -----

builtin.module attributes {tg.weights = "w.npz"} {
  tg.graph @g(%x: tensor<1x8x8x4xf32>) -> (tensor<1x8x8x4xf32>) {
    // CHECK: invalid.mlir:[[# @LINE + 1]]:5: error: 'tg.hardsigmoid': hardsigmoid alpha and beta must be finite
    %h = tg.hardsigmoid %x {alpha = 0x7FC00000 : f32, beta = 5.000000e-01 : f32} : (tensor<1x8x8x4xf32>) -> tensor<1x8x8x4xf32>
    tg.output %x : tensor<1x8x8x4xf32>
  }
}

// -----

// a product's second operand is of the first's shape, or a per-channel gate
builtin.module attributes {tg.weights = "w.npz"} {
  tg.graph @g(%x: tensor<1x8x8x4xf32>, %y: tensor<1x8x1x4xf32>) -> (tensor<1x8x8x4xf32>) {
    // CHECK: invalid.mlir:[[# @LINE + 1]]:5: error: 'tg.mul': mul operands must be of one shape, or the second one per channel (N x 1 x 1 x C on N x H x W x C, ones but the last axis on tokens); got [1, 8, 8, 4] and [1, 8, 1, 4]
    %m = tg.mul %x, %y : (tensor<1x8x8x4xf32>, tensor<1x8x1x4xf32>) -> tensor<1x8x8x4xf32>
    tg.output %x : tensor<1x8x8x4xf32>
  }
}

// -----

builtin.module attributes {tg.weights = "w.npz"} {
  tg.graph @g(%x: tensor<1x8x8x4xf32>) -> (tensor<1x8x8x4xf32>) {
    // CHECK: invalid.mlir:[[# @LINE + 1]]:5: error: 'tg.channel_slice': channels [2, 6) are not within the input's 4
    %s = tg.channel_slice %x {start = 2 : i64, stop = 6 : i64} : (tensor<1x8x8x4xf32>) -> tensor<1x8x8x4xf32>
    tg.output %x : tensor<1x8x8x4xf32>
  }
}

// -----

builtin.module attributes {tg.weights = "w.npz"} {
  tg.graph @g(%x: tensor<1x8x8x4xf32>) -> (tensor<1x8x8x4xf32>) {
    // CHECK: invalid.mlir:[[# @LINE + 1]]:5: error: 'tg.channel_shuffle': channel_shuffle needs N x H x W x C with C a multiple of groups, got [1, 8, 8, 4] and 3
    %s = tg.channel_shuffle %x {groups = 3 : i64} : (tensor<1x8x8x4xf32>) -> tensor<1x8x8x4xf32>
    tg.output %x : tensor<1x8x8x4xf32>
  }
}

// -----

// transpose perm that is not a permutation
builtin.module {
  tg.graph @g(%x: tensor<4x8x2xf32>) -> (tensor<4x8x2xf32>) {
    // CHECK: invalid.mlir:[[# @LINE + 1]]:5: error: 'tg.transpose': perm [0, 0, 2] is not a permutation of the 3 axes of [4, 8, 2]
    %y = tg.transpose %x {perm = array<i64: 0, 0, 2>} : (tensor<4x8x2xf32>) -> tensor<4x4x2xf32>
    tg.output %x : tensor<4x8x2xf32>
  }
}

// -----

// slice out of range
builtin.module {
  tg.graph @g(%x: tensor<17x64xf32>) -> (tensor<17x64xf32>) {
    // CHECK: invalid.mlir:[[# @LINE + 1]]:5: error: 'tg.slice': slice [16, 18) is not within the 17 elements of axis 0
    %y = tg.slice %x {axis = 0 : i64, start = 16 : i64, stop = 18 : i64} : (tensor<17x64xf32>) -> tensor<2x64xf32>
    tg.output %x : tensor<17x64xf32>
  }
}

// -----

// batch_matmul contraction
builtin.module {
  tg.graph @g(%q: tensor<4x17x16xf32>, %k: tensor<4x17x16xf32>) -> (tensor<4x17x16xf32>) {
    // CHECK: invalid.mlir:[[# @LINE + 1]]:5: error: 'tg.batch_matmul': batch_matmul contracts 16 with 17: [4, 17, 16] and [4, 17, 16]
    %s = tg.batch_matmul %q, %k : (tensor<4x17x16xf32>, tensor<4x17x16xf32>) -> tensor<4x17x17xf32>
    tg.output %q : tensor<4x17x16xf32>
  }
}

// -----

// batch_matmul over different heads
builtin.module {
  tg.graph @g(%q: tensor<4x17x16xf32>, %k: tensor<2x16x17xf32>) -> (tensor<4x17x16xf32>) {
    // CHECK: invalid.mlir:[[# @LINE + 1]]:5: error: 'tg.batch_matmul': batch_matmul operands differ in their batch axes: [4, 17, 16] and [2, 16, 17]
    %s = tg.batch_matmul %q, %k : (tensor<4x17x16xf32>, tensor<2x16x17xf32>) -> tensor<4x17x17xf32>
    tg.output %q : tensor<4x17x16xf32>
  }
}

// -----

// layer_norm weight of the wrong length
builtin.module attributes {tg.weights = "w.npz"} {
  tg.graph @g(%x: tensor<17x64xf32>) -> (tensor<17x64xf32>) {
    %w = tg.weight "w" : tensor<32xf32>
    %b = tg.weight "b" : tensor<64xf32>
    // CHECK: invalid.mlir:[[# @LINE + 1]]:5: error: 'tg.layer_norm': layer_norm weight must have shape [64] (one per feature), got [32]
    %n = tg.layer_norm %x, %w, %b {epsilon = 1.000000e-06 : f32} : (tensor<17x64xf32>, tensor<32xf32>, tensor<64xf32>) -> tensor<17x64xf32>
    tg.output %x : tensor<17x64xf32>
  }
}

// -----

// an INT8 softmax without its fix positions
builtin.module {
  tg.graph @g(%x: tensor<4x17x17xi8>) -> (tensor<4x17x17xi8>) {
    // CHECK: invalid.mlir:[[# @LINE + 1]]:5: error: 'tg.softmax': i8 'tg.softmax' needs a #tg.quant attribute
    %p = tg.softmax %x : (tensor<4x17x17xi8>) -> tensor<4x17x17xi8>
    tg.output %x : tensor<4x17x17xi8>
  }
}

// -----

// an INT8 layer norm's bias is i32
builtin.module attributes {tg.weights = "w.npz"} {
  tg.graph @g(%x: tensor<17x64xi8>) -> (tensor<17x64xi8>) {
    %w = tg.weight "w" : tensor<64xi8>
    %b = tg.weight "b" : tensor<64xi8>
    // CHECK: invalid.mlir:[[# @LINE + 1]]:5: error: 'tg.layer_norm': 'tg.layer_norm' bias must be i32 for i8 inputs
    %n = tg.layer_norm %x, %w, %b {epsilon = 1.000000e-06 : f32, quant = #tg.quant<inputs = [4], weight = 6, bias = 20, output = 5>} : (tensor<17x64xi8>, tensor<64xi8>, tensor<64xi8>) -> tensor<17x64xi8>
    tg.output %n : tensor<17x64xi8>
  }
}

// -----

// an INT8 product of two activations read at the wrong fix position
builtin.module {
  tg.graph @g(%x: tensor<4x17x16xf32>, %y: tensor<4x16x17xi8>) -> (tensor<4x17x17xi8>) {
    %q = tg.quantize %x {fix = 5 : i64} : (tensor<4x17x16xf32>) -> tensor<4x17x16xi8>
    // CHECK: invalid.mlir:[[# @LINE + 1]]:5: error: 'tg.batch_matmul': input 0 is produced at fix position 5 but #tg.quant reads it at 4
    %s = tg.batch_matmul %q, %y {quant = #tg.quant<inputs = [4, 4], output = 3>} : (tensor<4x17x16xi8>, tensor<4x16x17xi8>) -> tensor<4x17x17xi8>
    tg.output %s : tensor<4x17x17xi8>
  }
}

// -----

// slice step 0
builtin.module {
  tg.graph @g(%x: tensor<17x64xf32>) -> (tensor<17x64xf32>) {
    // CHECK: invalid.mlir:[[# @LINE + 1]]:5: error: 'tg.slice': slice step must be at least 1, got 0
    %y = tg.slice %x {axis = 0 : i64, start = 0 : i64, stop = 4 : i64, step = 0 : i64} : (tensor<17x64xf32>) -> tensor<4x64xf32>
    tg.output %x : tensor<17x64xf32>
  }
}
