"""Built-in models: the paper's three networks and small test networks (a vision
transformer among them)."""

from __future__ import annotations

from collections.abc import Callable

from bsir.diagnostics import BsirError
from bsir.models.builder import BuiltModel, GraphBuilder
from bsir.models.inception import inception_v3
from bsir.models.resnet import resnet50
from bsir.models.small import tiny_cnn, tiny_inception, tiny_resnet
from bsir.models.vgg import vgg16
from bsir.models.vit import vit_tiny

MODELS: dict[str, Callable[[], BuiltModel]] = {
    "resnet50": resnet50,
    "inception_v3": inception_v3,
    "vgg16": vgg16,
    "tiny_cnn": tiny_cnn,
    "tiny_resnet": tiny_resnet,
    "tiny_inception": tiny_inception,
    "vit_tiny": vit_tiny,
}
"""Every built-in model by name; the first three are the paper's."""

PAPER_MODELS = ("resnet50", "inception_v3", "vgg16")
"""The networks of the paper's Table 2."""

ALIASES = {"inceptionv3": "inception_v3", "incv3": "inception_v3", "resnet": "resnet50",
           "vgg": "vgg16"}


def build_model(name: str) -> BuiltModel:
    """Build a built-in model by name (a few common aliases are accepted)."""
    key = ALIASES.get(name.lower(), name.lower())
    if key not in MODELS:
        raise BsirError(f"unknown model '{name}' (built-in: {', '.join(MODELS)})")
    return MODELS[key]()


__all__ = ["MODELS", "BuiltModel", "GraphBuilder", "build_model"]
