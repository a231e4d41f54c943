"""Block masks on a PyTorch model: choose Gamma per layer, train with Gamma * W.

Gamma is chosen by :class:`bsir.sparsity.SparsityPlan`, the scoring ``tg-sparsify``
uses, on the weight seen as ``COUT x KH x KW x CIN/groups`` (a convolution) or
``COUT x CIN`` (a linear layer). A masked layer's weight becomes a parametrization:
the forward pass computes with ``Gamma * W``, autograd gives the dropped weights a zero
gradient, and the stored weight is zeroed where Gamma drops, so the weights that Gamma
drops are exactly zero before and after every optimizer step, for any optimizer.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize

from bsir import sparsity
from bsir.sparsity import SparsityPlan

PRUNABLE = (nn.Conv2d, nn.Linear)


@dataclass(frozen=True)
class LayerMask:
    """Gamma of one layer: True where a ``block[0] x block[1]`` block is kept."""

    block: tuple[int, int]
    gamma: np.ndarray

    @property
    def density(self) -> float:
        return float(self.gamma.mean())


class BlockMask(nn.Module):
    """The parametrization ``W -> Gamma * W`` (Gamma expanded to the weight's shape)."""

    def __init__(self, mask: LayerMask, element_mask: torch.Tensor):
        super().__init__()
        self.mask = mask
        self.register_buffer("element_mask", element_mask)

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight * self.element_mask


def bsir_layout(weight: torch.Tensor) -> np.ndarray:
    """A PyTorch weight in bsir's layout: ``[COUT, KH, KW, CIN]`` or ``[COUT, CIN]``."""
    array = weight.detach().cpu().double().numpy()
    return array.transpose(0, 2, 3, 1) if array.ndim == 4 else array


def element_mask(mask: LayerMask, weight: torch.Tensor) -> torch.Tensor:
    """Gamma as a 0/1 tensor of the weight's PyTorch shape."""
    shape = tuple(weight.shape)
    expanded = sparsity.expand_mask(mask.gamma, mask.block, bsir_layout(weight).shape)
    if len(shape) == 4:  # [COUT, 1, 1, CIN] -> [COUT, CIN, 1, 1]
        expanded = expanded.transpose(0, 3, 1, 2)
    return torch.as_tensor(np.broadcast_to(expanded, shape).copy(), dtype=weight.dtype,
                           device=weight.device)


def prunable_layers(model: nn.Module, linear: bool = True) -> list[tuple[str, nn.Module]]:
    """Convolutions (and linear layers) by qualified name, in registration order."""
    kinds = PRUNABLE if linear else (nn.Conv2d,)
    return [(name, module) for name, module in model.named_modules()
            if isinstance(module, kinds)]


def choose_masks(model: nn.Module, plan: SparsityPlan,
                 only: set[str] | None = None) -> dict[str, LayerMask]:
    """Gamma for every layer the plan sparsifies (ratio > 0), scored on current weights.

    ``only`` restricts the choice to those layer names (incremental fine-tuning)."""
    masks: dict[str, LayerMask] = {}
    first_conv = True
    for name, module in prunable_layers(model, plan.linear):
        is_first = first_conv and isinstance(module, nn.Conv2d)
        first_conv = first_conv and not isinstance(module, nn.Conv2d)
        ratio = plan.ratio_for(name, is_first)
        if ratio == 0.0 or (only is not None and name not in only):
            continue
        gamma = plan.mask(bsir_layout(module.weight), ratio)
        masks[name] = LayerMask(plan.block, gamma)
    return masks


def apply_masks(model: nn.Module, masks: dict[str, LayerMask]) -> None:
    """Make each named layer compute with Gamma * W (replacing an earlier mask)."""
    modules = dict(model.named_modules())
    for name, mask in masks.items():
        module = modules.get(name)
        if not isinstance(module, PRUNABLE):
            raise ValueError(f"no convolution or linear layer named '{name}'")
        if parametrize.is_parametrized(module, "weight"):
            parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
        element = element_mask(mask, module.weight)
        with torch.no_grad():
            module.weight.mul_(element)
        parametrize.register_parametrization(module, "weight", BlockMask(mask, element))


def masks_of(model: nn.Module) -> dict[str, LayerMask]:
    """The masks a model carries (from :func:`apply_masks`)."""
    found: dict[str, LayerMask] = {}
    for name, module in model.named_modules():
        if isinstance(module, PRUNABLE) and parametrize.is_parametrized(module, "weight"):
            for item in module.parametrizations.weight:
                if isinstance(item, BlockMask):
                    found[name] = item.mask
    return found


def strip_masks(model: nn.Module) -> None:
    """Remove the parametrizations, leaving plain weights that hold Gamma * W."""
    for _, module in model.named_modules():
        if isinstance(module, PRUNABLE) and parametrize.is_parametrized(module, "weight"):
            parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)


def plain_copy(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with plain weights holding Gamma * W; ``model`` keeps its masks.

    (Removing the parametrizations of a deep copy would break the original's, whose
    parametrized classes the copy shares.)"""
    masks = masks_of(model)
    strip_masks(model)
    try:
        return copy.deepcopy(model)
    finally:
        apply_masks(model, masks)


def weight_density(model: nn.Module, masks: dict[str, LayerMask]) -> float:
    """Kept weights over all weights of the masked layers (1.0 when none is masked)."""
    modules = dict(model.named_modules())
    kept = total = 0
    for name in masks:
        weight = modules[name].weight
        kept += int(torch.count_nonzero(element_mask(masks[name], weight)))
        total += weight.numel()
    return kept / total if total else 1.0
