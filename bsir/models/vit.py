"""Vision transformers: a patch embedding, encoder blocks of multi-head self-attention
and an MLP, a class token read by the classifier (ViT, Dosovitskiy et al. 2021).

Activations are tokens x features (batch 1, as every bsir network). Attention splits
the features into heads (reshape, transpose), multiplies queries by keys and the
weights by values per head (``tg.batch_matmul``), and joins the heads again; its scale
1 / sqrt(head size) is folded into the query projection.
"""

from __future__ import annotations

import math

from xdsl.ir import SSAValue

from bsir.dialects import tg
from bsir.models.builder import BuiltModel, GraphBuilder


def attention(b: GraphBuilder, x: SSAValue, heads: int, name: str) -> SSAValue:
    """Multi-head self-attention of tokens x features ``x``; its output projection."""
    tokens, features = tg.tensor_shape(x)
    size = features // heads

    def split_heads(value: SSAValue, perm: tuple[int, int, int]) -> SSAValue:
        return b.transpose(b.reshape(value, (tokens, heads, size)), perm)

    q = split_heads(b.linear(x, features, f"{name}.query", scale=1 / math.sqrt(size)),
                    (1, 0, 2))                                       # heads x tokens x size
    k = split_heads(b.linear(x, features, f"{name}.key"), (1, 2, 0))  # heads x size x tokens
    v = split_heads(b.linear(x, features, f"{name}.value"), (1, 0, 2))
    weights = b.softmax(b.batch_matmul(q, k))                        # heads x tokens x tokens
    joined = b.reshape(b.transpose(b.batch_matmul(weights, v), (1, 0, 2)), (tokens, features))
    return b.linear(joined, features, f"{name}.out")


def encoder_block(b: GraphBuilder, x: SSAValue, heads: int, mlp: int, name: str) -> SSAValue:
    """Pre-norm encoder block: x + attention(norm(x)), then + mlp(norm(.)) with GELU."""
    features = tg.tensor_shape(x)[1]
    x = b.add(x, attention(b, b.layer_norm(x, f"{name}.ln_1"), heads,
                           f"{name}.self_attention"))
    hidden = b.gelu(b.linear(b.layer_norm(x, f"{name}.ln_2"), mlp, f"{name}.mlp.0"))
    return b.add(x, b.linear(hidden, features, f"{name}.mlp.3"))


def vit(name: str, resolution: int, patch: int, features: int, depth: int, heads: int,
        mlp: int, classes: int) -> BuiltModel:
    """A ViT: ``patch`` x ``patch`` patches embedded by a strided convolution, a class
    token, learned positions, ``depth`` encoder blocks, a final norm, and the
    classifier on the class token. Weights are named as torchvision's
    ``VisionTransformer`` names them, but for attention's projections: ``query``,
    ``key``, ``value`` and ``out`` where torchvision packs the first three into one."""
    b = GraphBuilder(name, (1, resolution, resolution, 3), f"{name}.npz")
    grid = resolution // patch
    embedded = b.conv(b.input, features, patch, "conv_proj", stride=patch)
    tokens = b.reshape(embedded, (grid * grid, features))        # raster order, as NCHW
    #                                                             flatten(2).transpose(1, 2)
    x = b.concat([b.weight("class_token", (1, features), "embedding"), tokens], axis=0)
    x = b.add(x, b.weight("encoder.pos_embedding", (grid * grid + 1, features), "embedding"))
    for index in range(depth):
        x = encoder_block(b, x, heads, mlp, f"encoder.layers.encoder_layer_{index}")
    x = b.layer_norm(x, "encoder.ln")
    return b.finish(b.linear(b.slice(x, 0, 0, 1), classes, "heads.head"))


def vit_tiny(resolution: int = 32, classes: int = 10) -> BuiltModel:
    """A ViT small enough for tests: 8 x 8 patches of a 32 x 32 image (16 tokens and
    the class token), 64 features in 4 heads, 2 blocks, MLP of 128."""
    return vit("vit_tiny", resolution, patch=8, features=64, depth=2, heads=4, mlp=128,
               classes=classes)
