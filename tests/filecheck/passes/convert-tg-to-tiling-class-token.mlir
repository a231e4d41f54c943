// A concatenation is written in place by the layers producing its inputs, along any
// axis: here tokens, a class token before 16 patches. No layer produces the class token
// (a weight), so convert-tg-to-tiling copies it in with a layer of its own, a slice of
// the whole tensor named after the concatenation and the input ("concat_3.copy0"),
// which reads the weight from DDR; the patches' linear layer writes its rows after it.
// A value joined twice is copied the same way the second time.
// RUN: bsir-opt %s -p 'convert-tg-to-tiling{grid=2x2}' | filecheck %s
// RUN: bsir-opt %s -p 'convert-tg-to-tiling{grid=2x2},tiling-color-memtiles,convert-tiling-to-aie2' | filecheck %s --check-prefix=AIE2

builtin.module attributes {tg.weights = "w.npz"} {
  tg.graph @g(%x: tensor<16x32xf32>) -> (tensor<34x32xf32>) {
    %w = tg.weight "fc.weight" : tensor<32x32xf32>
    %p = tg.matmul %x, %w : (tensor<16x32xf32>, tensor<32x32xf32>) -> tensor<16x32xf32>
    %t = tg.weight "class_token" : tensor<1x32xf32>
    %c = tg.concat %t, %p {axis = 0 : i64} : (tensor<1x32xf32>, tensor<16x32xf32>) -> tensor<17x32xf32>
    %s = tg.softmax %c : (tensor<17x32xf32>) -> tensor<17x32xf32>
    %d = tg.concat %s, %s {axis = 0 : i64} : (tensor<17x32xf32>, tensor<17x32xf32>) -> tensor<34x32xf32>
    tg.output %d : tensor<34x32xf32>
  }
}

// CHECK: %p = tiling.layer "fc"
// CHECK: %t = tg.weight "class_token"
// CHECK-NEXT: %[[TOKEN:.*]] = tiling.layer "concat_3.copy0"
// CHECK-NEXT: tg.slice %t {axis = 1 : i64, start = 0 : i64, stop = 32 : i64}
// CHECK: %c = tg.concat %[[TOKEN]], %p {axis = 0 : i64}
// CHECK: %s = tiling.layer "softmax_4"
// CHECK: %[[AGAIN:.*]] = tiling.layer "concat_5.copy1"
// CHECK-NEXT: tg.slice %s {axis = 1 : i64, start = 0 : i64, stop = 32 : i64}
// CHECK: %d = tg.concat %s, %[[AGAIN]] {axis = 0 : i64}

// The copy loads the class token from DDR (32 bytes over 2 memtiles) and writes it
// into the concatenation's buffer, where the linear layer wrote the patches.
// AIE2: aie2.layer "fc"
// AIE2-SAME: output = [[[CONCAT:[0-9]+]], 320]
// AIE2: aie2.layer "concat_3.copy0"
// AIE2-SAME: output = [[[CONCAT]], 320]
// AIE2: aie2.load ddr memtile 0 bytes 16 iter 1
