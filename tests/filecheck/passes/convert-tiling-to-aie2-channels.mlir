// DMA channels: on 8 core rows every core of a column writes its results into its
// column's memtile, which has 6 S2MM channels: the writes take turns (share 2). A
// memtile with too few channels, or a core with too few buffer descriptors, is refused
// naming the tile (mlir-aie coordinates), the resource, what is needed and what is there.
// RUN: bsir-opt %s -p 'convert-tg-to-tiling{grid=8x8},tiling-color-memtiles,convert-tiling-to-aie2' | filecheck %s
// RUN: not bsir-opt %s -p 'convert-tg-to-tiling{hardware="%S/Inputs/one-s2mm.toml"}' 2>&1 | filecheck %s --check-prefix=CHANNELS
// RUN: not bsir-opt %s -p 'convert-tg-to-tiling{hardware="%S/Inputs/four-bds.toml"}' 2>&1 | filecheck %s --check-prefix=BDS

builtin.module attributes {tg.weights = "w.npz"} {
  tg.graph @g(%x: tensor<1x28x28x64xf32>) -> (tensor<1x28x28x64xf32>) {
    %w = tg.weight "conv.weight" : tensor<64x3x3x64xf32>
    %c = tg.conv2d %x, %w {stride = array<i64: 1, 1>, pad = array<i64: 1, 1, 1, 1>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x28x28x64xf32>, tensor<64x3x3x64xf32>) -> tensor<1x28x28x64xf32>
    tg.output %c : tensor<1x28x28x64xf32>
  }
}

// CHECK: aie2.loadwdm once {{.*}} repeat 1{{$}}
// CHECK: aie2.loadfm {{.*}} repeat 1{{$}}
// CHECK: aie2.writefm {{.*}} repeat 1 share 2{{$}}

// CHANNELS: bsir-opt: error: cannot map layer 'conv' (tg.conv2d) on one-s2mm: memtile (0,1): 2 S2MM channels needed, 1 available
// BDS: bsir-opt: error: cannot map layer 'conv' (tg.conv2d) on four-bds: core (0,2): 5 buffer descriptors needed, 4 available
