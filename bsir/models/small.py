"""Small networks for tests and examples: each exercises one structural feature."""

from __future__ import annotations

from bsir.models.builder import BuiltModel, GraphBuilder
from bsir.models.inception import basic_conv
from bsir.models.resnet import bottleneck, conv_bn


def tiny_cnn(resolution: int = 16, classes: int = 10) -> BuiltModel:
    """conv-relu-maxpool twice, then a classifier: the smallest end-to-end network."""
    b = GraphBuilder("tiny_cnn", (1, resolution, resolution, 3), "tiny_cnn.npz")
    x = b.relu(b.conv(b.input, 16, 3, "conv1", pad=1))
    x = b.maxpool(x, 2, 2)
    x = b.relu(b.conv(x, 32, 3, "conv2", pad=1))
    x = b.maxpool(x, 2, 2)
    x = b.flatten(x)
    return b.finish(b.linear(x, classes, "fc"))


def tiny_resnet(resolution: int = 16, classes: int = 10) -> BuiltModel:
    """A stem and two bottlenecks (one with a strided projection): residual adds."""
    b = GraphBuilder("tiny_resnet", (1, resolution, resolution, 3), "tiny_resnet.npz")
    x = conv_bn(b, b.input, 16, 3, "conv1", "bn1", pad=1)
    x = bottleneck(b, x, 8, 1, "layer1.0")
    x = bottleneck(b, x, 16, 2, "layer2.0")
    x = b.flatten(b.global_avgpool(x))
    return b.finish(b.linear(x, classes, "fc"))


def tiny_inception(resolution: int = 17, classes: int = 10) -> BuiltModel:
    """Parallel branches (1x1, 1x7/7x1, 3x3, pooling) joined by a channel concat."""
    b = GraphBuilder("tiny_inception", (1, resolution, resolution, 3), "tiny_inception.npz")
    x = basic_conv(b, b.input, 16, 3, "stem", stride=2)
    b1 = basic_conv(b, x, 8, 1, "mixed.branch1x1")
    b7 = basic_conv(b, x, 8, (1, 7), "mixed.branch7x7_1", pad=(0, 3))
    b7 = basic_conv(b, b7, 8, (7, 1), "mixed.branch7x7_2", pad=(3, 0))
    b3 = basic_conv(b, x, 8, 3, "mixed.branch3x3", pad=1)
    bp = basic_conv(b, b.avgpool(x, 3, 1, 1), 8, 1, "mixed.branch_pool")
    x = b.concat([b1, b7, b3, bp])
    x = b.maxpool(x, 3, 2, ceil_mode=True)
    x = b.flatten(b.global_avgpool(x))
    return b.finish(b.linear(x, classes, "fc"))
