"""VGG16 (torchvision configuration D, no batch norm)."""

from __future__ import annotations

from bsir.models.builder import BuiltModel, GraphBuilder

VGG16_CONFIG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M",
                512, 512, 512, "M", 512, 512, 512, "M")


def vgg16(resolution: int = 224, classes: int = 1000) -> BuiltModel:
    """VGG16: 138,357,544 parameters, about 15.5 G multiply-accumulates at 224.

    torchvision numbers its layers by position in ``features`` and ``classifier``;
    the weight keys follow it (``features.0``, ..., ``classifier.6``).
    """
    b = GraphBuilder("vgg16", (1, resolution, resolution, 3), "vgg16.npz")
    x = b.input
    for kind, position in _feature_indices():
        if kind == "M":
            x = b.maxpool(x, 2, 2)
        else:
            x = b.relu(b.conv(x, int(kind), 3, f"features.{position}", pad=1))
    # torchvision's AdaptiveAvgPool2d((7, 7)) is the identity at 224 x 224.
    x = b.flatten(x)
    x = b.relu(b.linear(x, 4096, "classifier.0"))
    x = b.relu(b.linear(x, 4096, "classifier.3"))
    return b.finish(b.linear(x, classes, "classifier.6"))


def _feature_indices() -> list[tuple[int | str, int]]:
    """Each config entry with its index in torchvision's ``features`` Sequential."""
    out: list[tuple[int | str, int]] = []
    position = 0
    for item in VGG16_CONFIG:
        out.append((item, position))
        position += 1 if item == "M" else 2  # a conv is followed by its ReLU
    return out
