"""``bsir compile``: the whole lowering of one model onto one array, and its estimate.

Pipeline: ``tg-sparsify`` (when a sparsity is asked; the first convolution stays dense,
as in the paper) -> ``tg-fold-batchnorm`` -> ``convert-tg-to-tiling`` ->
``tiling-compact-weights`` -> ``tiling-color-memtiles`` -> ``convert-tiling-to-aie2`` ->
``aie2-form-lock-chains``, run in memory (no file is written beside the model), then
the time model. A mapping that does not fit is reported, not raised: ``failed`` names
the memory that overflowed and by how many bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
from xdsl.dialects.builtin import ModuleOp

from bsir.diagnostics import BsirError
from bsir.pipeline import run_pipeline
from bsir.targets.aie2.hardware import AIE2Array, resolve_array
from bsir.targets.aie2.time_model import NetworkTime, time_network
from bsir.weights import in_memory_weights


@dataclass(frozen=True)
class CompileOptions:
    sparsity: float = 0.0
    block: tuple[int, int] = (8, 8)
    criterion: str = "l2"


@dataclass
class CompileResult:
    model: str
    array: AIE2Array
    sparsity: float
    module: ModuleOp | None
    timing: NetworkTime | None
    failed: str | None = None

    def summary(self) -> dict:
        """The DESIGN.md section 7 object, without ``layers``."""
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


def pipeline_for(hardware: str, memtiles: str, options: CompileOptions) -> str:
    """The pass pipeline of ``bsir compile``."""
    sparsify = ""
    if options.sparsity > 0:
        sparsify = (f"tg-sparsify{{block={options.block[0]},{options.block[1]} "
                    f"ratio={options.sparsity:.6f} criterion={options.criterion} "
                    "skip-first=true report=false}, ")
    quoted = hardware.replace("\\", "\\\\").replace('"', '\\"')
    return (f"builtin.module({sparsify}tg-fold-batchnorm, "
            f'convert-tg-to-tiling{{hardware="{quoted}" memtiles={memtiles}}}, '
            "tiling-compact-weights, tiling-color-memtiles, convert-tiling-to-aie2, "
            "aie2-form-lock-chains)")


def compile_module(module: ModuleOp, arrays: dict[str, np.ndarray], hardware: str = "4x4",
                   memtiles: str = "shared", options: CompileOptions = CompileOptions(),
                   name: str = "") -> CompileResult:
    """Lower ``module`` (with its weights) onto the array ``hardware`` names (a grid, a
    preset or a TOML file) and estimate its time."""
    from bsir.stats import only_graph

    array = resolve_array(hardware, memtiles)
    name = name or only_graph(module).sym_name.data
    try:
        with in_memory_weights(module, arrays):
            run_pipeline(module, pipeline_for(hardware, memtiles, options))
    except BsirError as error:
        if "cannot map layer" in error.message:
            return CompileResult(name, array, options.sparsity, None, None, error.message)
        raise
    return CompileResult(name, array, options.sparsity, module, time_network(module, array))


def write_json(path: str, data: object) -> None:
    with open(path, "w", encoding="utf-8") as stream:
        json.dump(data, stream, indent=1)
