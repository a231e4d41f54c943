"""bsir: a block-sparse compiler for AI accelerators, built on xDSL.

The distribution installs the repository folders as sub-packages: ``bsir`` (core and
drivers), ``bsir.dialects``, ``bsir.passes``, ``bsir.targets``, ``bsir.tools``.

The Python API in one call::

    import bsir

    result = bsir.compile("resnet50", grid="4x4", sparsity=0.5)
    result.total_s, result.layers[0], result.to_json()
    result.trace("r.trace.json"); result.report("r.html")
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    from xdsl.dialects.builtin import ModuleOp

    from bsir.driver.compile import CompileResult

__version__ = "0.1.0"
__all__ = ["compile"]


def compile(
    model: str | tuple[ModuleOp, Mapping[str, np.ndarray]], grid: str = "4x4", *,
    memtiles: str = "shared", sparsity: float = 0.0, block: str | tuple[int, int] = "8x8",
    criterion: str = "l2", quantize: bool = False,
    inputs: Sequence[np.ndarray] | None = None, seed: int = 0, weights_seed: int = 0,
    cost_model: str = "honest",
) -> CompileResult:
    """Lower a model onto an AIE2 array and estimate its time.

    ``model``: a built-in model name (``bsir models``), a text IR file with its weights,
    or a ``(module, weights)`` pair (the module is rewritten). ``grid``: ``ROWSxCOLS``, a
    preset or a hardware TOML file. ``sparsity``: the fraction of ``block`` blocks zeroed
    on every convolution but the first, by ``criterion`` (l1, l2, variance). With
    ``quantize`` the INT8 program is built too, calibrated on ``inputs`` (one array per
    graph input; default: a standard-normal input from ``seed``), so that
    ``result.verify()`` and ``result.write_ir(path)`` work. ``cost_model``: ``honest``
    (bsir's time rules) or ``paper`` (the paper's estimator; with ``grid="paper-4x4"``,
    its GiB/s too). The result has ``total_s``,
    ``layers``, ``failed``, ``to_json()``, ``trace(path)`` and ``report(path)``.
    """
    from bsir.diagnostics import BsirError
    from bsir.driver.compile import CompileOptions, compile_module, compile_source
    from bsir.sparsity import parse_block
    from bsir.targets.aie2.paper_cost import COST_MODELS

    if cost_model not in COST_MODELS:
        raise BsirError(f"cost_model is one of {', '.join(COST_MODELS)}, got {cost_model!r}")
    options = CompileOptions(sparsity=sparsity, criterion=criterion, quantize=quantize,
                             seed=seed, cost_model=cost_model,
                             block=parse_block(block) if isinstance(block, str) else block)
    if isinstance(model, str):
        return compile_source(model, grid, memtiles, options, weights_seed=weights_seed,
                              inputs=None if inputs is None else list(inputs))
    module, weights = model
    if inputs is not None:
        from dataclasses import replace

        options = replace(options, calibration=tuple(inputs))
    return compile_module(module, weights, grid, memtiles, options)
