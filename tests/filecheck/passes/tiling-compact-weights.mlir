// tiling-compact-weights packs each sparse layer's kept blocks and checks the chunk the
// mapper planned; dense layers keep their layout.
// RUN: bsir export tiny_resnet -o %t.mlir
// RUN: bsir-opt %t.mlir -p 'tg-sparsify{ratio=0.5 skip-first=true report=false},tg-fold-batchnorm,convert-tg-to-tiling{grid=2x2},tiling-compact-weights' | filecheck %s

// CHECK: builtin.module attributes {tg.weights = "{{.*}}.sparse.folded.{{[0-9a-f]+}}.npz", tiling.array = {{.*}}, tiling.packed_weights = "{{.*}}.sparse.folded.packed.{{[0-9a-f]+}}.npz"}
// CHECK: tiling.layer "conv1" {{[^#]*}}#tiling.split{{[^}]*}}ddr = #tiling.ddr<h_passes = 1, cout_passes = 1>} :
// CHECK: tiling.layer "layer1.0.conv3" {{.*}}compaction = #tiling.compaction<block = [8, 8], kept_blocks = 2, total_blocks = 4, packed_bytes = {{[0-9]+}}, chunk_bytes = {{[0-9]+}}>
// CHECK: tiling.layer "layer2.0.downsample.0" {{.*}}compaction = #tiling.compaction<block = [8, 8], kept_blocks = 16, total_blocks = 32,
