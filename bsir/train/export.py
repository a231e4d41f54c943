"""A fine-tuned PyTorch model to ONNX, with its block masks saved beside it.

``net.onnx`` gets ``net.masks.npz``: for every masked layer, ``<weight>:gamma`` (Gamma)
and ``<weight>:block``, keyed by the name of the weight's ONNX initializer.
``bsir import`` reads it and fills each layer's ``#tg.sparsity``; without the file it
finds the zero blocks itself.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from bsir.files import write_npz
from bsir.train.masking import masks_of, plain_copy


def masks_path(onnx_path: str | Path) -> Path:
    """Where the masks of ``net.onnx`` lie: ``net.masks.npz``."""
    path = Path(onnx_path)
    return path.with_name(path.stem + ".masks.npz")


def export_onnx(model: nn.Module, example: torch.Tensor, path: str | Path) -> Path:
    """Write ``model`` (masks folded into plain weights, eval mode) and its masks."""
    masks = masks_of(model)
    plain = plain_copy(model).cpu().eval()
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)  # the exporter's notes on missing torchvision ops
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.export's own deprecations
            torch.onnx.export(plain, (example.cpu(),), str(path), dynamo=True,
                              verbose=False, input_names=["input"], output_names=["output"])
    finally:
        logger.setLevel(level)
    import onnx

    initializers = {init.name: init for init in onnx.load(str(path)).graph.initializer}
    weights = dict(plain.named_modules())
    arrays: dict[str, np.ndarray] = {}
    for layer, mask in masks.items():
        key = f"{layer}.weight" if layer else "weight"
        if key not in initializers:
            key = _renamed(initializers, weights[layer].weight.detach().cpu().numpy(), layer)
        arrays[f"{key}:gamma"] = mask.gamma
        arrays[f"{key}:block"] = np.asarray(mask.block)
    target = masks_path(path)
    write_npz(target, arrays, f"block masks of {os.path.basename(str(path))}")
    return target


def _renamed(initializers: dict, weight: np.ndarray, layer: str) -> str:
    """The initializer that holds ``layer``'s weight under another name: torch.export
    writes a linear layer over tokens as a MatMul by its transposed weight, a new
    initializer. Found by value (the weight or its transpose, exactly)."""
    from onnx import numpy_helper

    found = [name for name, init in initializers.items()
             if tuple(init.dims) in (weight.shape, weight.T.shape)
             and any(np.array_equal(numpy_helper.to_array(init), candidate)
                     for candidate in (weight, weight.T))]
    if len(found) != 1:
        raise ValueError(f"the ONNX exporter renamed the weight of '{layer}' and "
                         f"{'no' if not found else 'more than one'} initializer holds its "
                         "values; its mask cannot be saved by name")
    return found[0]
