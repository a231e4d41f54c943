"""Small PyTorch models for the examples and tests, and loading a user's model."""

from __future__ import annotations

import importlib

from torch import nn


def digits_cnn(classes: int = 10, width: int = 32) -> nn.Sequential:
    """A CNN for 8x8 single-channel images: three 3x3 convolutions (with batch norm),
    a 2x2 max pool, global average pooling and a linear classifier."""
    return nn.Sequential(
        nn.Conv2d(1, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
        nn.Conv2d(width, 2 * width, 3, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(2 * width, 2 * width, 3, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(2 * width, classes),
    )


BUILTIN = {"digits-cnn": digits_cnn}


def load_model(spec: str) -> nn.Module:
    """A built-in model name, or ``package.module:factory`` (called with no argument)."""
    if spec in BUILTIN:
        return BUILTIN[spec]()
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(f"unknown model '{spec}' (one of {', '.join(BUILTIN)}, "
                         "or package.module:factory)")
    try:
        factory = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"cannot load model '{spec}': {error}") from None
    model = factory()
    if not isinstance(model, nn.Module):
        raise ValueError(f"'{spec}' returned {type(model).__name__}, not a torch.nn.Module")
    return model
