"""Training for block sparsity with PyTorch (extra ``train``): paper section 3.

Choose a fixed block mask Gamma per convolution / linear layer with the scoring that
``tg-sparsify`` uses, train with Gamma * W (the dropped weights stay exactly zero),
one-shot or one layer at a time, on one process or under ``torchrun``; export to ONNX
with the masks beside the model, so ``bsir import`` and ``bsir compile`` take it as is.
Keras 3 models: :mod:`bsir.train.keras`.

The names below load PyTorch on first use, so ``bsir`` itself starts without it.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "SparsityPlan": "bsir.sparsity",
    "export_onnx": "bsir.train.export",
    "masks_path": "bsir.train.export",
    "EpochRecord": "bsir.train.loop",
    "History": "bsir.train.loop",
    "TrainConfig": "bsir.train.loop",
    "Trainer": "bsir.train.loop",
    "evaluate": "bsir.train.loop",
    "LayerMask": "bsir.train.masking",
    "apply_masks": "bsir.train.masking",
    "choose_masks": "bsir.train.masking",
    "masks_of": "bsir.train.masking",
    "plain_copy": "bsir.train.masking",
    "prunable_layers": "bsir.train.masking",
    "strip_masks": "bsir.train.masking",
    "weight_density": "bsir.train.masking",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'bsir.train' has no attribute '{name}'")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
