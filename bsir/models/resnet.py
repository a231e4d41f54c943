"""ResNet50 (torchvision v1.5: stride on the 3x3 convolution of each bottleneck)."""

from __future__ import annotations

from xdsl.ir import SSAValue

from bsir.models.builder import BuiltModel, GraphBuilder

RESNET50_STAGES = ((3, 64), (4, 128), (6, 256), (3, 512))
"""(bottleneck blocks, width) of each stage."""


def conv_bn(b: GraphBuilder, x: SSAValue, cout: int, kernel: int, name: str, bn: str,
            stride: int = 1, pad: int = 0, relu: bool = True) -> SSAValue:
    """Convolution without bias, batch norm, optional ReLU."""
    y = b.batch_norm(b.conv(x, cout, kernel, name, stride=stride, pad=pad, bias=False), bn)
    return b.relu(y) if relu else y


def bottleneck(b: GraphBuilder, x: SSAValue, width: int, stride: int, name: str) -> SSAValue:
    out_channels = width * 4
    y = conv_bn(b, x, width, 1, f"{name}.conv1", f"{name}.bn1")
    y = conv_bn(b, y, width, 3, f"{name}.conv2", f"{name}.bn2", stride=stride, pad=1)
    y = conv_bn(b, y, out_channels, 1, f"{name}.conv3", f"{name}.bn3", relu=False)
    in_channels = x.type.get_shape()[3]  # type: ignore[attr-defined]
    if stride != 1 or in_channels != out_channels:
        x = conv_bn(b, x, out_channels, 1, f"{name}.downsample.0", f"{name}.downsample.1",
                    stride=stride, relu=False)
    return b.relu(b.add(y, x))


def resnet50(resolution: int = 224, classes: int = 1000) -> BuiltModel:
    """ResNet50: 25,557,032 parameters, about 4.1 G multiply-accumulates at 224."""
    b = GraphBuilder("resnet50", (1, resolution, resolution, 3), "resnet50.npz")
    x = conv_bn(b, b.input, 64, 7, "conv1", "bn1", stride=2, pad=3)
    x = b.maxpool(x, 3, 2, 1)
    for stage, (blocks, width) in enumerate(RESNET50_STAGES, start=1):
        for i in range(blocks):
            stride = 2 if (i == 0 and stage > 1) else 1
            x = bottleneck(b, x, width, stride, f"layer{stage}.{i}")
    x = b.flatten(b.global_avgpool(x))
    return b.finish(b.linear(x, classes, "fc"))
