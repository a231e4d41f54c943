// tg-sink-reshapes: an exporter's reshape between a linear layer and its GELU or
// residual addition moves below them, so that each reads the layer's output itself
// (and convert-tg-to-tiling fuses them into it); the two reshapes around the GELU
// become none, and the ReLU after the addition follows it. An addition of a weight to
// what no linear layer produces stays as it is.
// RUN: bsir-opt %s -p tg-sink-reshapes | filecheck %s
// RUN: bsir-opt %s -p 'tg-sink-reshapes,convert-tg-to-tiling{grid=2x2}' | filecheck %s --check-prefix=MAP

builtin.module attributes {tg.weights = "w.npz"} {
  tg.graph @g(%x: tensor<1x17x64xf32>) -> (tensor<1x17x64xf32>) {
    %t = tg.reshape %x : (tensor<1x17x64xf32>) -> tensor<17x64xf32>
    %w1 = tg.weight "fc1.weight" : tensor<128x64xf32>
    %h = tg.matmul %t, %w1 : (tensor<17x64xf32>, tensor<128x64xf32>) -> tensor<17x128xf32>
    %h3 = tg.reshape %h : (tensor<17x128xf32>) -> tensor<1x17x128xf32>
    %g = tg.gelu %h3 : (tensor<1x17x128xf32>) -> tensor<1x17x128xf32>
    %g2 = tg.reshape %g : (tensor<1x17x128xf32>) -> tensor<17x128xf32>
    %w2 = tg.weight "fc2.weight" : tensor<64x128xf32>
    %y = tg.matmul %g2, %w2 : (tensor<17x128xf32>, tensor<64x128xf32>) -> tensor<17x64xf32>
    %y3 = tg.reshape %y : (tensor<17x64xf32>) -> tensor<1x17x64xf32>
    %s = tg.add %y3, %x : (tensor<1x17x64xf32>, tensor<1x17x64xf32>) -> tensor<1x17x64xf32>
    %p = tg.weight "table" : tensor<1x17x64xf32>
    %r = tg.relu %s : (tensor<1x17x64xf32>) -> tensor<1x17x64xf32>
    %u = tg.add %r, %p : (tensor<1x17x64xf32>, tensor<1x17x64xf32>) -> tensor<1x17x64xf32>
    tg.output %u : tensor<1x17x64xf32>
  }
}

// The residual seen as 17x64, defined where the residual is (before either layer).
// CHECK:      %[[X:.*]] = tg.reshape %x : (tensor<1x17x64xf32>) -> tensor<17x64xf32>
// CHECK:      %h = tg.matmul %t, %w1
// CHECK-NEXT: %g = tg.gelu %h : (tensor<17x128xf32>) -> tensor<17x128xf32>
// CHECK-NEXT: %w2 = tg.weight
// CHECK-NEXT: %y = tg.matmul %g, %w2
// CHECK-NEXT: %s = tg.add %y, %[[X]] : (tensor<17x64xf32>, tensor<17x64xf32>)
// CHECK:      %r = tg.relu %s : (tensor<17x64xf32>) -> tensor<17x64xf32>
// CHECK-NEXT: %[[R:.*]] = tg.reshape %r : (tensor<17x64xf32>) -> tensor<1x17x64xf32>
// CHECK-NEXT: %u = tg.add %[[R]], %p

// The GELU runs in fc1's layer, the addition and the ReLU in fc2's.
// MAP: tiling.layer "fc1"
// MAP-NEXT: tg.matmul
// MAP-NEXT: tg.gelu
// MAP: tiling.layer "fc2"
// MAP-NEXT: tg.matmul
// MAP-NEXT: tg.add
// MAP-NEXT: tg.relu
