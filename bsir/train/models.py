"""Small PyTorch models for the examples and tests, and loading a user's model."""

from __future__ import annotations

import importlib
import math

import torch
from torch import nn
from torch.nn import functional


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


class EncoderBlock(nn.Module):
    """A pre-norm transformer encoder block: multi-head self-attention with its own
    query, key, value and output linear layers (each gets its own block mask), then a
    GELU MLP, each added to its input."""

    def __init__(self, features: int, heads: int, mlp: int):
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(features), nn.LayerNorm(features)
        self.query, self.key, self.value, self.out = (nn.Linear(features, features)
                                                      for _ in range(4))
        self.mlp1, self.mlp2 = nn.Linear(features, mlp), nn.Linear(mlp, features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, features = x.shape
        size = features // self.heads

        def split(value: torch.Tensor) -> torch.Tensor:  # batch x heads x tokens x size
            return value.reshape(batch, tokens, self.heads, size).transpose(1, 2)

        h = self.norm1(x)
        q, k, v = split(self.query(h)), split(self.key(h)), split(self.value(h))
        weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(size), dim=-1)
        x = x + self.out((weights @ v).transpose(1, 2).reshape(batch, tokens, features))
        return x + self.mlp2(functional.gelu(self.mlp1(self.norm2(x))))


class DigitsViT(nn.Module):
    """A small vision transformer for 8x8 single-channel images: 2x2 patches (16 tokens)
    embedded by a strided convolution, a class token and learned positions, ``depth``
    encoder blocks, a final layer norm and a linear classifier on the class token."""

    def __init__(self, classes: int = 10, features: int = 32, heads: int = 4, depth: int = 2,
                 mlp: int = 64, patch: int = 2, size: int = 8):
        super().__init__()
        self.embed = nn.Conv2d(1, features, patch, stride=patch)
        self.class_token = nn.Parameter(torch.zeros(1, 1, features))
        self.positions = nn.Parameter(0.02 * torch.randn(1, (size // patch) ** 2 + 1,
                                                         features))
        self.blocks = nn.ModuleList(EncoderBlock(features, heads, mlp) for _ in range(depth))
        self.norm = nn.LayerNorm(features)
        self.head = nn.Linear(features, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.embed(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.class_token.expand(x.shape[0], -1, -1), x], dim=1) + self.positions
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x)[:, 0])


def digits_vit(classes: int = 10) -> DigitsViT:
    """:class:`DigitsViT` with its defaults: 32 features in 4 heads, 2 blocks, MLP 64."""
    return DigitsViT(classes)


BUILTIN = {"digits-cnn": digits_cnn, "digits-vit": digits_vit}


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
