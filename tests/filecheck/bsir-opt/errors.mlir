// Bad command lines and bad input: one line on stderr, a non-zero exit, no traceback.
// RUN: not bsir-opt %s -p no-such-pass 2>&1 | filecheck %s --check-prefix=PASS
// PASS: bsir-opt: error: unknown pass 'no-such-pass'
// RUN: not bsir-opt %s --pass-pipeline='builtin.module(dce{bogus=1})' 2>&1 | filecheck %s --check-prefix=OPTION
// OPTION: bsir-opt: error: bad pass options in 'builtin.module(dce{bogus=1})': Provided arguments ["bogus"] not found
// RUN: not bsir-opt %s --pass-pipeline='builtin.module(func.func(cse))' 2>&1 | filecheck %s --check-prefix=ANCHOR
// ANCHOR: bsir-opt: error: pipeline 'builtin.module(func.func(cse))' nests an anchor other than builtin.module
// RUN: not bsir-opt %s -p dce --pass-pipeline='builtin.module(dce)' 2>&1 | filecheck %s --check-prefix=BOTH
// BOTH: bsir-opt: error: give either -p/--passes or --pass-pipeline, not both
// RUN: not bsir-opt %s --no-such-flag 2>&1 | filecheck %s --check-prefix=FLAG
// FLAG: bsir-opt: error: unrecognized arguments: --no-such-flag (see bsir-opt --help)
// RUN: not bsir-opt %t.does-not-exist.mlir 2>&1 | filecheck %s --check-prefix=MISSING
// MISSING: bsir-opt: error: cannot access '{{.*}}does-not-exist.mlir': No such file or directory
// RUN: not bsir-opt %s 2>&1 | filecheck %s --check-prefix=VERIFY
// VERIFY: errors.mlir:[[# @LINE + 8]]:5: error: 'tg.relu': result type tensor<1x4xf32> does not match the inferred tensor<1x8xf32>
// VERIFY-NOT: Traceback
// RUN: not bsir-opt %s 2>&1 | filecheck %s --check-prefix=ONCE
// ONCE: error:
// ONCE-NOT: error

builtin.module {
  tg.graph @g(%x: tensor<1x8xf32>) -> (tensor<1x4xf32>) {
    %y = tg.relu %x : (tensor<1x8xf32>) -> tensor<1x4xf32>
    tg.output %y : tensor<1x4xf32>
  }
}
