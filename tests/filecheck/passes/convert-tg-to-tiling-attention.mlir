// convert-tg-to-tiling on a product of two activations (attention's Q K^T): neither
// operand is a weight, so no weight image and no LOADW/LOADWDM; a core's tile is one
// head's rows of Q (here 9 tokens x 16) with that head's K^T columns (16 x 17) beside
// them in its input stream: 9 * 16 + 16 * 17 = 416 bytes; heads split over core rows.
// RUN: bsir-opt %s -p 'convert-tg-to-tiling{grid=2x2}' | filecheck %s
// RUN: bsir-opt %s -p 'convert-tg-to-tiling{grid=2x2}' | bsir-opt | filecheck %s

builtin.module {
  tg.graph @attention(%q: tensor<4x17x16xf32>, %k: tensor<4x16x17xf32>) -> (tensor<4x17x17xf32>) {
    %s = tg.batch_matmul %q, %k : (tensor<4x17x16xf32>, tensor<4x16x17xf32>) -> tensor<4x17x17xf32>
    tg.output %s : tensor<4x17x17xf32>
  }
}

// CHECK: %s = tiling.layer "batch_matmul_0" {split = #tiling.split<mode = "h", cols = [0, 9, 17], rows = [0, 2, 4], parts = 1>, subvolume = #tiling.subvolume<h = 1, w = 9, cout = 17, cin = 16, in_h = 1, in_w = 9, input_bytes = 416, output_bytes = 153, weight_bytes = 0,
// CHECK-NEXT: tg.batch_matmul %q, %k
// CHECK-NEXT: tiling.transfer {kind = "to_cores", tensor = "input0", bytes = 416 : i64, count = 2 : i64}
// CHECK-NEXT: tiling.compute {macs = 2448 : i64, count = 2 : i64, macs_total = 18496 : i64}
// CHECK-NEXT: tiling.transfer {kind = "from_cores", tensor = "output", bytes = 153 : i64, count = 2 : i64}
