"""Block scoring and mask selection (paper section 3.2), in plain numpy.

One implementation serves the compiler (``tg-sparsify``) and training (``bsir.train``).

A weight is COUT x KH x KW x CIN (a convolution) or COUT x CIN (a linear layer); a
block is ``b_out x KH x KW x b_in``, so the mask Gamma is a boolean matrix over
``ceil(COUT / b_out) x ceil(CIN / b_in)`` blocks, True where the block is kept.

Criteria (the importance of a block):

- ``l1``: sum of |w|;
- ``l2``: sqrt of the sum of w^2;
- ``variance``: mean of (w - block mean)^2;
- ``variance-global``: mean of (w - tensor mean)^2.

Edge blocks, where COUT or CIN is not a multiple of the block, hold fewer weights; their
``l1`` and ``l2`` are scaled to a full block (sums over the present weights times
full / present, squared for ``l2``), so that a partial block is not pruned merely for
being small. Ties are broken by block position (row-major), so masks are deterministic.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

import numpy as np

CRITERIA = ("l1", "l2", "variance", "variance-global")


def as_matrix_blocks(weight: np.ndarray) -> np.ndarray:
    """View a weight as COUT x (KH*KW) x CIN, the axes blocks are cut along."""
    if weight.ndim == 2:
        return weight[:, None, :]
    if weight.ndim == 4:
        cout, kh, kw, cin = weight.shape
        return weight.reshape(cout, kh * kw, cin)
    raise ValueError(f"a weight must be 2-D or 4-D, got {weight.ndim}-D")


def grid_shape(weight_shape: Sequence[int], block: Sequence[int]) -> tuple[int, int]:
    """Blocks along COUT and CIN."""
    bo, bi = block
    return (-(-weight_shape[0] // bo), -(-weight_shape[-1] // bi))


def _block_sums(values: np.ndarray, block: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Per-block sums of ``values`` (COUT x K x CIN) and per-block element counts."""
    bo, bi = block
    cout, k, cin = values.shape
    rows, cols = grid_shape((cout, cin), block)
    padded = np.zeros((rows * bo, k, cols * bi), dtype=np.float64)
    padded[:cout, :, :cin] = values
    sums = padded.reshape(rows, bo, k, cols, bi).sum(axis=(1, 2, 4))
    ones = np.zeros((rows * bo, cols * bi))
    ones[:cout, :cin] = k
    counts = ones.reshape(rows, bo, cols, bi).sum(axis=(1, 3))
    return sums, counts


def block_scores(weight: np.ndarray, block: Sequence[int], criterion: str = "l2") -> np.ndarray:
    """The importance of every block of ``weight`` (higher is more important)."""
    if criterion not in CRITERIA:
        raise ValueError(f"unknown criterion '{criterion}' (one of {', '.join(CRITERIA)})")
    if len(block) != 2 or min(block) < 1:
        raise ValueError(f"a block is two positive sizes, got {list(block)}")
    w = as_matrix_blocks(np.asarray(weight, dtype=np.float64))
    full = block[0] * block[1] * w.shape[1]
    if criterion == "l1":
        sums, counts = _block_sums(np.abs(w), block)
        return sums * (full / counts)
    if criterion == "l2":
        sums, counts = _block_sums(w * w, block)
        return np.sqrt(sums * (full / counts))
    if criterion == "variance":
        sums, counts = _block_sums(w, block)
        squares, _ = _block_sums(w * w, block)
        mean = sums / counts
        return np.maximum(squares / counts - mean * mean, 0.0)
    squares, counts = _block_sums((w - w.mean()) ** 2, block)
    return squares / counts


def zero_count(blocks: int, ratio: float) -> int:
    """How many of ``blocks`` a sparsity ``ratio`` zeroes: the nearest whole number,
    a tie going to the denser choice (one block at ratio 0.5 stays)."""
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"a sparsity ratio is in [0, 1], got {ratio}")
    return int(np.ceil(blocks * ratio - 0.5))


def select_mask(scores: np.ndarray, ratio: float, balanced: bool = False) -> np.ndarray:
    """Gamma: keep the highest-scoring blocks, zero ``ratio`` of them.

    Unbalanced: exactly ``zero_count(rows * cols, ratio)`` blocks are zero.
    Balanced: every block row keeps the same number of blocks,
    ``cols - zero_count(cols, ratio)``, so cores that split COUT get equal work.
    """
    rows, cols = scores.shape
    mask = np.ones((rows, cols), dtype=bool)
    if balanced:
        drop = zero_count(cols, ratio)
        if drop:
            order = np.argsort(scores, axis=1, kind="stable")[:, :drop]
            np.put_along_axis(mask, order, False, axis=1)
        return mask
    drop = zero_count(rows * cols, ratio)
    if drop:
        order = np.argsort(scores.reshape(-1), kind="stable")[:drop]
        mask.reshape(-1)[order] = False
    return mask


def expand_mask(mask: np.ndarray, block: Sequence[int], weight_shape: Sequence[int]) -> np.ndarray:
    """The block mask as an element mask broadcastable against the weight."""
    bo, bi = block
    cout, cin = weight_shape[0], weight_shape[-1]
    element = np.repeat(np.repeat(mask, bo, axis=0), bi, axis=1)[:cout, :cin]
    if len(weight_shape) == 4:
        return element[:, None, None, :]
    return element


def apply_mask(weight: np.ndarray, mask: np.ndarray, block: Sequence[int]) -> np.ndarray:
    """Gamma * W: a copy of ``weight`` with the zeroed blocks set to 0."""
    return np.where(expand_mask(mask, block, weight.shape), weight, 0).astype(weight.dtype)


def block_mask(weight: np.ndarray, block: Sequence[int], ratio: float,
               criterion: str = "l2", balanced: bool = False) -> np.ndarray:
    """Score the blocks of ``weight`` and choose Gamma in one call."""
    return select_mask(block_scores(weight, block, criterion), ratio, balanced)


def mask_of_zero_blocks(weight: np.ndarray, block: Sequence[int]) -> np.ndarray:
    """Gamma recovered from a weight: True where a block holds any non-zero."""
    sums, _ = _block_sums(np.abs(as_matrix_blocks(np.asarray(weight))) > 0, block)
    return sums > 0


def parse_block(text: str) -> tuple[int, int]:
    """``"8x8"`` -> (8, 8): a block's rows over COUT and columns over CIN."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX,]\s*(\d+)\s*", text)
    if not match or min(int(match.group(1)), int(match.group(2))) < 1:
        raise ValueError(f"a block is ROWSxCOLS over (COUT, CIN), like 8x8; got '{text}'")
    return int(match.group(1)), int(match.group(2))


def parse_overrides(text: str) -> tuple[tuple[str, float], ...]:
    """``"a=0.5 b*=0"`` (spaces, commas or semicolons between) to ((pattern, ratio), ...)."""
    out = []
    for item in filter(None, re.split(r"[\s,;]+", text.strip())):
        pattern, sep, value = item.rpartition("=")
        try:
            ratio = float(value)
        except ValueError:
            ratio = -1.0
        if not sep or not pattern or not 0.0 <= ratio <= 1.0:
            raise ValueError(f"bad override '{item}' (expected PATTERN=RATIO, ratio in [0, 1])")
        out.append((pattern, ratio))
    return tuple(out)


@dataclass(frozen=True)
class SparsityPlan:
    """Which layers get which block sparsity: the options of ``tg-sparsify`` and of
    ``bsir.train``, decided in one place."""

    block: tuple[int, int] = (8, 8)
    ratio: float = 0.5
    criterion: str = "l2"
    skip_first: bool = False
    linear: bool = False
    balanced: bool = False
    overrides: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        if len(self.block) != 2 or min(self.block) < 1:
            raise ValueError(f"block must be two positive sizes, got {list(self.block)}")
        if not 0.0 <= self.ratio <= 1.0:
            raise ValueError(f"ratio must be in [0, 1], got {self.ratio}")
        if self.criterion not in CRITERIA:
            raise ValueError(f"unknown criterion '{self.criterion}' "
                             f"(one of {', '.join(CRITERIA)})")

    def ratio_for(self, name: str, first_conv: bool) -> float:
        """The ratio of layer ``name``: 0 for the first convolution with ``skip_first``,
        else the last matching override's, else ``ratio``."""
        if self.skip_first and first_conv:
            return 0.0
        ratio = self.ratio
        for pattern, value in self.overrides:
            if fnmatchcase(name, pattern):
                ratio = value
        return ratio

    def mask(self, weight: np.ndarray, ratio: float) -> np.ndarray:
        """Gamma of ``weight`` (COUT x KH x KW x CIN or COUT x CIN) at ``ratio``."""
        return block_mask(weight, self.block, ratio, self.criterion, self.balanced)
