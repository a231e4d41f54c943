// A syntax error is located at the offending token.
// RUN: not bsir-opt %s 2>&1 | filecheck %s
// CHECK: syntax-error.mlir:[[# @LINE + 4]]:20: error: {{.*}}
// CHECK-NOT: Traceback
builtin.module {
  tg.graph @g(%x: tensor<1x8xf32>) -> (tensor<1x8xf32>) {
    %y = tg.relu %x, : (tensor<1x8xf32>) -> tensor<1x8xf32>
    tg.output %y : tensor<1x8xf32>
  }
}
