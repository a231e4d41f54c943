"""InceptionV3 (torchvision, inference graph: no auxiliary classifier).

Every ``BasicConv2d`` is a convolution without bias, a batch norm with epsilon 0.001
and a ReLU. Pooling branches use ``avg_pool2d(3, 1, 1)`` with padding counted.
"""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.ir import SSAValue

from bsir.models.builder import BuiltModel, GraphBuilder


def basic_conv(b: GraphBuilder, x: SSAValue, cout: int, kernel: int | Sequence[int],
               name: str, stride: int = 1, pad: int | Sequence[int] = 0) -> SSAValue:
    y = b.conv(x, cout, kernel, f"{name}.conv", stride=stride, pad=pad, bias=False)
    return b.relu(b.batch_norm(y, f"{name}.bn", eps=1e-3))


def _pool_branch(b: GraphBuilder, x: SSAValue, cout: int, name: str) -> SSAValue:
    return basic_conv(b, b.avgpool(x, 3, 1, 1), cout, 1, f"{name}.branch_pool")


def inception_a(b: GraphBuilder, x: SSAValue, pool_features: int, name: str) -> SSAValue:
    b1 = basic_conv(b, x, 64, 1, f"{name}.branch1x1")
    b5 = basic_conv(b, x, 48, 1, f"{name}.branch5x5_1")
    b5 = basic_conv(b, b5, 64, 5, f"{name}.branch5x5_2", pad=2)
    b3 = basic_conv(b, x, 64, 1, f"{name}.branch3x3dbl_1")
    b3 = basic_conv(b, b3, 96, 3, f"{name}.branch3x3dbl_2", pad=1)
    b3 = basic_conv(b, b3, 96, 3, f"{name}.branch3x3dbl_3", pad=1)
    return b.concat([b1, b5, b3, _pool_branch(b, x, pool_features, name)])


def inception_b(b: GraphBuilder, x: SSAValue, name: str) -> SSAValue:
    b3 = basic_conv(b, x, 384, 3, f"{name}.branch3x3", stride=2)
    bd = basic_conv(b, x, 64, 1, f"{name}.branch3x3dbl_1")
    bd = basic_conv(b, bd, 96, 3, f"{name}.branch3x3dbl_2", pad=1)
    bd = basic_conv(b, bd, 96, 3, f"{name}.branch3x3dbl_3", stride=2)
    return b.concat([b3, bd, b.maxpool(x, 3, 2)])


def inception_c(b: GraphBuilder, x: SSAValue, c7: int, name: str) -> SSAValue:
    b1 = basic_conv(b, x, 192, 1, f"{name}.branch1x1")
    b7 = basic_conv(b, x, c7, 1, f"{name}.branch7x7_1")
    b7 = basic_conv(b, b7, c7, (1, 7), f"{name}.branch7x7_2", pad=(0, 3))
    b7 = basic_conv(b, b7, 192, (7, 1), f"{name}.branch7x7_3", pad=(3, 0))
    bd = basic_conv(b, x, c7, 1, f"{name}.branch7x7dbl_1")
    bd = basic_conv(b, bd, c7, (7, 1), f"{name}.branch7x7dbl_2", pad=(3, 0))
    bd = basic_conv(b, bd, c7, (1, 7), f"{name}.branch7x7dbl_3", pad=(0, 3))
    bd = basic_conv(b, bd, c7, (7, 1), f"{name}.branch7x7dbl_4", pad=(3, 0))
    bd = basic_conv(b, bd, 192, (1, 7), f"{name}.branch7x7dbl_5", pad=(0, 3))
    return b.concat([b1, b7, bd, _pool_branch(b, x, 192, name)])


def inception_d(b: GraphBuilder, x: SSAValue, name: str) -> SSAValue:
    b3 = basic_conv(b, x, 192, 1, f"{name}.branch3x3_1")
    b3 = basic_conv(b, b3, 320, 3, f"{name}.branch3x3_2", stride=2)
    b7 = basic_conv(b, x, 192, 1, f"{name}.branch7x7x3_1")
    b7 = basic_conv(b, b7, 192, (1, 7), f"{name}.branch7x7x3_2", pad=(0, 3))
    b7 = basic_conv(b, b7, 192, (7, 1), f"{name}.branch7x7x3_3", pad=(3, 0))
    b7 = basic_conv(b, b7, 192, 3, f"{name}.branch7x7x3_4", stride=2)
    return b.concat([b3, b7, b.maxpool(x, 3, 2)])


def inception_e(b: GraphBuilder, x: SSAValue, name: str) -> SSAValue:
    b1 = basic_conv(b, x, 320, 1, f"{name}.branch1x1")
    b3 = basic_conv(b, x, 384, 1, f"{name}.branch3x3_1")
    b3 = b.concat([
        basic_conv(b, b3, 384, (1, 3), f"{name}.branch3x3_2a", pad=(0, 1)),
        basic_conv(b, b3, 384, (3, 1), f"{name}.branch3x3_2b", pad=(1, 0)),
    ])
    bd = basic_conv(b, x, 448, 1, f"{name}.branch3x3dbl_1")
    bd = basic_conv(b, bd, 384, 3, f"{name}.branch3x3dbl_2", pad=1)
    bd = b.concat([
        basic_conv(b, bd, 384, (1, 3), f"{name}.branch3x3dbl_3a", pad=(0, 1)),
        basic_conv(b, bd, 384, (3, 1), f"{name}.branch3x3dbl_3b", pad=(1, 0)),
    ])
    return b.concat([b1, b3, bd, _pool_branch(b, x, 192, name)])


def inception_v3(resolution: int = 299, classes: int = 1000) -> BuiltModel:
    """InceptionV3: 23,834,568 parameters, about 5.7 G multiply-accumulates at 299."""
    b = GraphBuilder("inception_v3", (1, resolution, resolution, 3), "inception_v3.npz")
    x = basic_conv(b, b.input, 32, 3, "Conv2d_1a_3x3", stride=2)
    x = basic_conv(b, x, 32, 3, "Conv2d_2a_3x3")
    x = basic_conv(b, x, 64, 3, "Conv2d_2b_3x3", pad=1)
    x = b.maxpool(x, 3, 2)
    x = basic_conv(b, x, 80, 1, "Conv2d_3b_1x1")
    x = basic_conv(b, x, 192, 3, "Conv2d_4a_3x3")
    x = b.maxpool(x, 3, 2)
    x = inception_a(b, x, 32, "Mixed_5b")
    x = inception_a(b, x, 64, "Mixed_5c")
    x = inception_a(b, x, 64, "Mixed_5d")
    x = inception_b(b, x, "Mixed_6a")
    for name, c7 in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)):
        x = inception_c(b, x, c7, name)
    x = inception_d(b, x, "Mixed_7a")
    x = inception_e(b, x, "Mixed_7b")
    x = inception_e(b, x, "Mixed_7c")
    x = b.flatten(b.global_avgpool(x))
    return b.finish(b.linear(x, classes, "fc"))
