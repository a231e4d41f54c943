"""``bsir compile``: the whole lowering of one model onto one array, and its estimate.

Pipeline: ``tg-sparsify`` (when a sparsity is asked; the first convolution stays dense,
as in the paper) -> ``tg-fold-batchnorm`` -> ``tg-quantize`` (calibrated on the given
inputs, else one seeded random input) -> ``convert-tg-to-tiling`` ->
``tiling-compact-weights`` -> ``tiling-color-memtiles`` -> ``convert-tiling-to-aie2`` ->
``aie2-form-lock-chains``, run in memory (no file is written beside the model), then
the time model. A mapping that does not fit is reported, not raised: ``failed`` names
the memory that overflowed and by how many bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.dialects.builtin import ModuleOp

from bsir.diagnostics import MappingError
from bsir.pipeline import run_pipeline
from bsir.targets.aie2.hardware import AIE2Array, resolve_array
from bsir.targets.aie2.time_model import NetworkTime, time_network
from bsir.weights import current_weights, in_memory_weights, weights_file


@dataclass(frozen=True)
class CompileOptions:
    sparsity: float = 0.0
    block: tuple[int, int] = (8, 8)
    criterion: str = "l2"
    quantize: bool = True
    """INT8 with power-of-two scales (the deployment); off only skips calibration where
    just the time estimate is wanted (the estimate does not depend on it)."""
    calibration: tuple[np.ndarray, ...] | None = None
    """Inputs to calibrate on; default: one seeded standard-normal input."""


@dataclass
class CompileResult:
    model: str
    array: AIE2Array
    sparsity: float
    module: ModuleOp | None
    timing: NetworkTime | None
    failed: str | None = None
    weights: dict[str, np.ndarray] | None = None

    def summary(self) -> dict:
        """The ``--json`` object of docs/cli.md, without ``layers``."""
        return {
            "model": self.model,
            "grid": [self.array.rows, self.array.cols],
            "hardware": self.array.name,
            "memtiles": self.array.memtile_mode,
            "sparsity": self.sparsity,
            "total_s": self.timing.total_s if self.timing else None,
            "failed": self.failed,
        }

    def to_json(self) -> dict:
        data = self.summary()
        data["layers"] = [
            {"name": layer.name, "op": layer.op, "macs": layer.macs,
             "macs_computed": layer.macs_computed, "ddr_s": layer.ddr_s,
             "memtile_core_s": layer.memtile_core_s, "compute_s": layer.compute_s,
             "total_s": layer.total_s, "split": layer.split}
            for layer in (self.timing.layers if self.timing else [])
        ]
        return data


def front_pipeline(options: CompileOptions) -> str:
    """The graph-level passes of ``bsir compile``, before quantization."""
    sparsify = ""
    if options.sparsity > 0:
        sparsify = (f"tg-sparsify{{block={options.block[0]},{options.block[1]} "
                    f"ratio={options.sparsity:.6f} criterion={options.criterion} "
                    "skip-first=true report=false}, ")
    return f"builtin.module({sparsify}tg-fold-batchnorm)"


def back_pipeline(hardware: str, memtiles: str) -> str:
    """The lowering passes of ``bsir compile``, after quantization."""
    quoted = hardware.replace("\\", "\\\\").replace('"', '\\"')
    return (f'builtin.module(convert-tg-to-tiling{{hardware="{quoted}" memtiles={memtiles}}}, '
            "tiling-compact-weights, tiling-color-memtiles, convert-tiling-to-aie2, "
            "aie2-form-lock-chains)")


def compile_module(module: ModuleOp, arrays: dict[str, np.ndarray], hardware: str = "4x4",
                   memtiles: str = "shared", options: CompileOptions = CompileOptions(),
                   name: str = "") -> CompileResult:
    """Lower ``module`` (with its weights) onto the array ``hardware`` names (a grid, a
    preset or a TOML file) and estimate its time."""
    from bsir.dialects import tg
    from bsir.dialects.tg import only_graph
    from bsir.executor import random_inputs
    from bsir.passes.tg_quantize import TgQuantizePass

    array = resolve_array(hardware, memtiles)
    name = name or only_graph(module).sym_name.data
    try:
        with in_memory_weights(module, arrays) as store:
            run_pipeline(module, front_pipeline(options))
            quantized = any(isinstance(op, tg.QuantizeOp) for op in only_graph(module).walk())
            if options.quantize and not quantized:
                calibration = list(options.calibration or random_inputs(module, 0, 1)[0])
                store[weights_file(module)] = TgQuantizePass().quantize(
                    module, current_weights(module), [calibration])
            run_pipeline(module, back_pipeline(hardware, memtiles))
            final = current_weights(module)
    except MappingError as error:
        return CompileResult(name, array, options.sparsity, None, None, error.message)
    return CompileResult(name, array, options.sparsity, module, time_network(module),
                         weights=final)
