"""Datasets that need no download, and arrays from ``.npz`` files, as tensor datasets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import TensorDataset


def split(x: np.ndarray, y: np.ndarray, val_fraction: float,
          seed: int) -> tuple[TensorDataset, TensorDataset]:
    """A stratified train/validation split, reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    train, val = [], []
    for label in np.unique(y):
        index = rng.permutation(np.flatnonzero(y == label))
        cut = round(len(index) * val_fraction)
        val.extend(index[:cut])
        train.extend(index[cut:])
    train, val = np.sort(train), np.sort(val)

    def tensors(index: np.ndarray) -> TensorDataset:
        return TensorDataset(torch.as_tensor(x[index], dtype=torch.float32),
                             torch.as_tensor(y[index], dtype=torch.int64))

    return tensors(train), tensors(val)


def digits(val_fraction: float = 0.25, seed: int = 0) -> tuple[TensorDataset, TensorDataset]:
    """scikit-learn's handwritten digits: 1,797 8x8 images (N x 1 x 8 x 8, standardized),
    10 classes; shipped with scikit-learn, no download."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ValueError("the digits dataset needs scikit-learn: pip install 'bsir[train]'"
                         ) from None
    data = load_digits()
    x = data.images.astype(np.float32)[:, None] / 16.0
    x = (x - x.mean()) / x.std()
    return split(x, data.target, val_fraction, seed)


def npz_dataset(path: str, val_fraction: float = 0.2,
                seed: int = 0) -> tuple[TensorDataset, TensorDataset]:
    """Arrays ``x`` (N x C x H x W or N x F, float) and ``y`` (N, integer labels)."""
    if not Path(path).exists():
        raise ValueError(f"no such file: {path}")
    with np.load(path) as data:
        if "x" not in data or "y" not in data:
            raise ValueError(f"{path}: expected arrays 'x' and 'y', found {sorted(data)}")
        x, y = data["x"], data["y"]
    if len(x) != len(y) or y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{path}: 'y' must hold one integer label per row of 'x'")
    return split(x, y, val_fraction, seed)


def load_dataset(name: str, seed: int = 0) -> tuple[TensorDataset, TensorDataset]:
    """``digits`` or a ``.npz`` path: (train, validation)."""
    if name == "digits":
        return digits(seed=seed)
    if name.endswith(".npz"):
        return npz_dataset(name, seed=seed)
    raise ValueError(f"unknown dataset '{name}' (digits or a .npz file with x and y)")
