// tg-sparsify on an exported network: Gamma on every convolution, a new weights file,
// a per-layer density report on stderr.
// RUN: bsir export tiny_cnn -o %t.mlir
// RUN: bsir-opt %t.mlir --pass-pipeline='builtin.module(tg-sparsify{block=8,8 ratio=0.5 criterion=l2})' 2>%t.report | filecheck %s
// RUN: filecheck %s --check-prefix=REPORT < %t.report
// RUN: bsir-opt %t.mlir -p 'tg-sparsify{block=16,4 ratio=0.75 criterion=variance skip-first=true linear=true report=false}' | filecheck %s --check-prefix=OPTS

// CHECK: builtin.module attributes {tg.weights = "{{.*}}.sparse.{{[0-9a-f]+}}.npz"}
// CHECK: tg.conv2d {{.*}}sparsity = #tg.sparsity<block = [8, 8], grid = [2, 1], mask = "{{80|40}}">
// CHECK: tg.conv2d {{.*}}sparsity = #tg.sparsity<block = [8, 8], grid = [4, 2], mask = "{{[0-9a-f]+}}">
// CHECK-NOT: tg.matmul {{.*}}sparsity

// REPORT: tg-sparsify: block 8x8, ratio 0.5, criterion l2 -> {{.*}}.sparse.npz
// REPORT: conv1 {{.*}} 16x3x3x3 {{.*}} 2x1 {{.*}} 0.500
// REPORT: conv2 {{.*}} 32x3x3x16 {{.*}} 4x2 {{.*}} 0.500

// The first convolution stays dense (no mask); the linear layer is sparsified too.
// OPTS: tg.conv2d {{[^#]*}} -> tensor<1x16x16x16xf32>
// OPTS: tg.conv2d {{.*}}sparsity = #tg.sparsity<block = [16, 4], grid = [2, 4], mask = "{{[0-9a-f]+}}">
// OPTS: tg.matmul {{.*}}sparsity = #tg.sparsity<block = [16, 4], grid = [1, 128]
