// convert-tg-to-tiling on tokens: a 17 x 64 activation is a row of 17 pixels of 64
// channels. Layer norm and softmax are row-wise: a core computes whole rows, so their
// channels are never split (rows = [0, 64, 64]: one core row holds them all; the
// softmax over heads x tokens x keys splits heads over core rows instead). Layer norm's
// weight and bias go to the cores as a weight image (64 int8 + 64 int32 bytes); the
// linear layer over tokens is a 1x1 convolution over the row.
// RUN: bsir-opt %s -p 'convert-tg-to-tiling{grid=2x2}' | filecheck %s
// RUN: bsir-opt %s -p 'convert-tg-to-tiling{grid=2x2}' | bsir-opt | filecheck %s

builtin.module attributes {tg.weights = "w.npz"} {
  tg.graph @tokens(%x: tensor<17x64xf32>) -> (tensor<4x17x24xf32>) {
    %g = tg.weight "ln.weight" : tensor<64xf32>
    %b = tg.weight "ln.bias" : tensor<64xf32>
    %n = tg.layer_norm %x, %g, %b {epsilon = 1.000000e-06 : f32} : (tensor<17x64xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<17x64xf32>
    %w = tg.weight "fc.weight" : tensor<96x64xf32>
    %c = tg.weight "fc.bias" : tensor<96xf32>
    %y = tg.matmul %n, %w, %c : (tensor<17x64xf32>, tensor<96x64xf32>, tensor<96xf32>) -> tensor<17x96xf32>
    %h = tg.reshape %y : (tensor<17x96xf32>) -> tensor<4x17x24xf32>
    %s = tg.softmax %h : (tensor<4x17x24xf32>) -> tensor<4x17x24xf32>
    tg.output %s : tensor<4x17x24xf32>
  }
}

// CHECK: %n = tiling.layer "ln" {split = #tiling.split<mode = "w", cols = [0, 9, 17], rows = [0, 64, 64], parts = 1>, subvolume = #tiling.subvolume<h = 1, w = 9, cout = 64, cin = 1, {{.*}}weight_bytes = 320,
// CHECK-NEXT: tg.layer_norm %x, %g, %b
// CHECK-NEXT: tiling.transfer {kind = "loadw", tensor = "weights", bytes = 160 : i64, count = 1 : i64}
// CHECK-NEXT: tiling.transfer {kind = "to_cores", tensor = "input0", bytes = 576 : i64, count = 1 : i64}
// CHECK-NEXT: tiling.transfer {kind = "weights_to_cores", tensor = "weights", bytes = 320 : i64, count = 1 : i64}
// CHECK: %y = tiling.layer "fc" {split = #tiling.split<{{.*}}subvolume = #tiling.subvolume<h = 1, w = {{[0-9]+}}, cout = {{[0-9]+}}, cin = {{[0-9]+}},
// CHECK-NEXT: tg.matmul %n, %w, %c
// CHECK: %h = tg.reshape %y : (tensor<17x96xf32>) -> tensor<4x17x24xf32>
// CHECK-NEXT: %s = tiling.layer "softmax_7" {split = #tiling.split<mode = "h", cols = [0, 9, 17], rows = [0, 2, 4], parts = 1>, subvolume = #tiling.subvolume<h = 1, w = 9, cout = 24, cin = 24,
// CHECK-NEXT: tg.softmax %h
// CHECK-NEXT: tiling.transfer {kind = "to_cores", tensor = "input0", bytes = 216 : i64, count = 2 : i64}
