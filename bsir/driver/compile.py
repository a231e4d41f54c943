"""``bsir compile``: the whole lowering of one model onto one array, and its estimate.

The pipeline is built from typed pass instances (:func:`compile_passes`), never from
text: ``tg-sparsify`` (when a sparsity is asked; the first convolution stays dense, as
in the paper) -> ``tg-fold-batchnorm`` -> ``tg-split-global-pool`` -> ``tg-quantize``
(only when the INT8 program is wanted: to verify it or to write it; the time estimate
does not depend on it) ->
``convert-tg-to-tiling`` -> ``tiling-compact-weights`` -> ``tiling-color-memtiles`` ->
``convert-tiling-to-aie2`` -> ``aie2-form-lock-chains``, run in memory (no file is
written beside the model), then the time model. :func:`pipeline_text` prints the same
pipeline for ``bsir-opt``. A mapping that does not fit is reported, not raised:
``failed`` names the memory that overflowed and by how many bytes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass, PassPipeline

from bsir.diagnostics import BsirError, MappingError
from bsir.dialects import tg
from bsir.dialects.tg import only_graph
from bsir.driver.pipeline import apply_pipeline
from bsir.executor import check_inputs, random_arrays
from bsir.ir import load_module, make_context, verify_module
from bsir.models import BuiltModel, build_model
from bsir.passes.aie2_form_lock_chains import Aie2FormLockChainsPass
from bsir.passes.convert_tg_to_tiling import ConvertTgToTilingPass
from bsir.passes.convert_tiling_to_aie2 import ConvertTilingToAie2Pass
from bsir.passes.tg_fold_batchnorm import TgFoldBatchnormPass
from bsir.passes.tg_sink_reshapes import TgSinkReshapesPass
from bsir.passes.tg_split_global_pool import TgSplitGlobalPoolPass
from bsir.passes.tiling_color_memtiles import TilingColorMemtilesPass
from bsir.passes.tiling_compact_weights import TilingCompactWeightsPass
from bsir.targets.aie2.hardware import AIE2Array, module_array, resolve_array
from bsir.targets.aie2.time_model import LayerTime, NetworkTime, time_network
from bsir.weights import (
    LazyWeights,
    current_weights,
    in_memory_weights,
    ir_folder,
    ir_location,
    load_weights,
)

if TYPE_CHECKING:
    from bsir.passes.tg_quantize import TgQuantizePass


@dataclass(frozen=True)
class CompileOptions:
    """What ``bsir compile`` does besides mapping: sparsity, quantization, checking."""

    sparsity: float = 0.0
    block: tuple[int, int] = (8, 8)
    criterion: str = "l2"
    linear: bool = False
    """Sparsify linear layers too (a transformer's projections and MLP), not only
    convolutions (tg-sparsify's ``linear``)."""
    overrides: str = ""
    """Per-layer sparsities, ``"layer4.*=0.75 fc=0"`` (fnmatch patterns on layer names;
    tg-sparsify's ``overrides``)."""
    quantize: bool = True
    """Lower the INT8 program (power-of-two scales). Off, calibration is skipped and the
    program stays float: the time estimate is the same, the program cannot be verified
    or deployed."""
    calibration: tuple[np.ndarray, ...] | None = None
    """One input set (an array per graph input) to calibrate on, in memory; default:
    ``calibration_file``, else one standard-normal input drawn from ``seed``."""
    calibration_file: str = ""
    """An ``.npy`` of inputs to calibrate on (tg-quantize's ``calibration`` option)."""
    seed: int = 0
    verify_each_pass: bool = False
    """Verify the IR after every pass (as bsir-opt does), not only the final program."""
    row_parts: bool = True
    """Let the mapper split output rows over core rows beside channels (False: the
    paper's splits only; convert-tg-to-tiling's ``row-parts``)."""
    cost_model: str = "honest"
    """How the program is timed: bsir's rules (``honest``) or the paper's estimator's
    (``paper``, targets/aie2/paper_cost.py)."""
    overlap: str = "none"
    """``weights``: load each layer's weights while the layers before it run, into
    memtile space they leave free (tiling-color-memtiles ``prefetch``); ``none``: the
    paper's schedule, each layer loads its weights when it starts."""


PREFETCH_LAYERS = 2
"""How many layers ahead ``--overlap weights`` loads a layer's weights."""


def front_passes(options: CompileOptions) -> list[ModulePass]:
    """The graph-level passes of a compilation before quantization: sparsify, fold,
    split large global pools, move element-wise ops before reshapes."""
    passes: list[ModulePass] = []
    if options.sparsity > 0 or options.overrides:
        from bsir.passes.tg_sparsify import TgSparsifyPass  # imported only when asked

        passes.append(TgSparsifyPass(block=tuple(options.block), ratio=float(options.sparsity),
                                     criterion=options.criterion, skip_first=True,
                                     linear=options.linear,
                                     overrides=options.overrides, report=False))
    passes.append(TgFoldBatchnormPass())
    passes.append(TgSplitGlobalPoolPass())
    passes.append(TgSinkReshapesPass())
    return passes


def compile_passes(options: CompileOptions, array: AIE2Array, hardware: str = "",
                   memtiles: str = "shared", quantized: bool = False) -> list[ModulePass]:
    """The pass instances of one compilation. ``hardware`` is how the array was named
    (a grid, preset or TOML path; it is what the printed pipeline says); ``quantized``
    says the graph is INT8 already."""
    passes = front_passes(options)
    if options.quantize and not quantized:
        passes.append(_quantize_pass(options))
    passes += [ConvertTgToTilingPass.onto(array, hardware or array.name, memtiles,
                                          options.row_parts),
               TilingCompactWeightsPass(),
               TilingColorMemtilesPass(prefetch=PREFETCH_LAYERS if options.overlap == "weights"
                                       else 0),
               ConvertTilingToAie2Pass(), Aie2FormLockChainsPass()]
    return passes


def _quantize_pass(options: CompileOptions) -> TgQuantizePass:
    from bsir.passes.tg_quantize import TgQuantizePass  # only when quantizing

    quantize = TgQuantizePass(calibration=options.calibration_file, samples=1,
                              seed=options.seed)
    if options.calibration is not None:
        return quantize.calibrated_on([options.calibration])
    return quantize


def pipeline_text(passes: list[ModulePass]) -> str:
    """The ``bsir-opt --pass-pipeline`` that runs ``passes`` (in-memory calibration
    inputs print as nothing: save them to a file and name it with ``calibration=``)."""
    return "builtin.module(" + ", ".join(str(p.spec()) for p in passes) + ")"


@dataclass
class CompileResult:
    """One compilation: the program, its estimate, or why it does not fit."""

    model: str
    array: AIE2Array
    sparsity: float
    module: ModuleOp | None
    timing: NetworkTime | None
    failed: str | None = None
    weights: dict[str, np.ndarray] | None = None
    files: dict[str, dict[str, np.ndarray]] = field(default_factory=dict, repr=False)
    """The weight files the lowered module names, in memory (path -> arrays)."""
    quantized: bool = False
    pipeline: str = ""
    options: CompileOptions = field(default_factory=CompileOptions)
    folder: str = ""
    """The folder the module's relative file names (``tg.weights``) resolve against."""
    _inputs: list[np.ndarray] | Callable[[], list[np.ndarray]] = field(
        default_factory=list, repr=False)

    @property
    def inputs(self) -> list[np.ndarray]:
        """The input set the program was calibrated on (and is verified on by default);
        a seeded random set is drawn when first read (a time estimate never reads it)."""
        if callable(self._inputs):
            self._inputs = self._inputs()
        return self._inputs

    @inputs.setter
    def inputs(self, value: list[np.ndarray] | Callable[[], list[np.ndarray]]) -> None:
        self._inputs = value

    @property
    def total_s(self) -> float | None:
        """The network's estimated time in seconds (None when it does not fit)."""
        return self.timing.total_s if self.timing else None

    @property
    def layers(self) -> list[LayerTime]:
        """Every layer's estimate, in schedule order."""
        return self.timing.layers if self.timing else []

    def summary(self) -> dict:
        """The ``--json`` object of docs/cli.md, without ``layers``."""
        return {
            "model": self.model,
            "grid": [self.array.rows, self.array.cols],
            "hardware": self.array.name,
            "memtiles": self.array.memtile_mode,
            "sparsity": self.sparsity,
            "total_s": self.total_s,
            "bound_s": self.timing.bound_s if self.timing else None,
            "overlap": self.options.overlap,
            "hidden_ddr_s": self.timing.hidden_ddr_s if self.timing else None,
            "conv_s": self.timing.conv_s if self.timing else None,
            "cost_model": self.options.cost_model,
            "failed": self.failed,
        }

    def to_json(self) -> dict:
        """The ``--json`` object of docs/cli.md."""
        data = self.summary()
        data["layers"] = [
            {"name": layer.name, "op": layer.op, "macs": layer.macs,
             "macs_computed": layer.macs_computed, "ddr_s": layer.ddr_s,
             "memtile_core_s": layer.memtile_core_s, "compute_s": layer.compute_s,
             "total_s": layer.total_s, "bound_s": layer.window_bound_s,
             "bound_by": layer.bound_by, "start_s": layer.start_s,
             "hidden_ddr_s": layer.hidden_ddr_s,
             "binds": layer.binds, "busy_s": layer.busy, "keeps_zeros": layer.keeps_zeros,
             "split": layer.split}
            for layer in self.layers
        ]
        return data

    def timed_by(self, cost_model: str, bandwidths: AIE2Array | None = None
                 ) -> CompileResult:
        """The same program timed under ``cost_model`` (at the rates of ``bandwidths``,
        an array of the same grid, when given): a new result sharing the module."""
        timing = time_network(self._fitted_module(), cost_model, bandwidths)
        return replace(self, timing=timing, array=timing.array,
                       options=replace(self.options, cost_model=cost_model))

    def _fitted_module(self) -> ModuleOp:
        self._fitted()
        assert self.module is not None
        return self.module

    def _fitted(self) -> NetworkTime:
        if self.timing is None:
            raise MappingError(f"{self.model} does not fit {self.array.name}: {self.failed}")
        return self.timing

    def trace(self, path: str) -> None:
        """Write the Chrome/Perfetto trace of the timeline to ``path``."""
        from bsir.targets.aie2.trace import write_trace

        write_trace(path, self._fitted())

    def report(self, path: str, label: str = "", baseline: CompileResult | None = None
               ) -> None:
        """Write the HTML report to ``path``, beside ``baseline`` (e.g. the dense
        compilation of the same model) when given."""
        from bsir.targets.aie2.report import write_report

        self._fitted()
        runs = [(label or self.sparsity_label(), self)]
        if baseline is not None:
            runs.insert(0, (baseline.sparsity_label(), baseline))
        write_report(path, runs)

    def sparsity_label(self) -> str:
        """``dense``, ``sparse 50% (8x8 blocks)``, or the block density a model brought."""
        if self.sparsity > 0:
            rows, cols = self.options.block
            return f"sparse {self.sparsity:.0%} ({rows}x{cols} blocks)"
        blocks = [layer.blocks for layer in self.layers if layer.blocks is not None]
        kept, total = sum(b[0] for b in blocks), sum(b[1] for b in blocks)
        return "dense" if total == 0 else \
            f"block sparsity of the model ({kept}/{total} blocks kept)"

    def verify(self, inputs: list[np.ndarray] | None = None):
        """Simulate the program on ``inputs`` (default: the calibration inputs) and compare
        it bit for bit with the reference executor (needs ``quantize=True``)."""
        from bsir.driver.verify import verify_compiled

        self._fitted()
        if not self.quantized:
            raise BsirError("only the INT8 program can be verified: compile with "
                            "quantize=True")
        assert self.module is not None and self.weights is not None
        return verify_compiled(self.module, self.weights,
                               self.inputs if inputs is None else inputs)

    def write_ir(self, path: str) -> list[str]:
        """Write the lowered program to ``path`` and its weights beside it
        (``X.npz``, ``X.packed.npz``); returns the paths written."""
        from bsir.weights import names_relative_to, write_module

        self._fitted()
        assert self.module is not None
        with names_relative_to(self.folder or None):
            return write_module(self.module.clone(), path, self.files)


def compile_module(module: ModuleOp, arrays: Mapping[str, np.ndarray],
                   hardware: str = "4x4", memtiles: str = "shared",
                   options: CompileOptions = CompileOptions(), name: str = "") -> CompileResult:
    """Lower ``module`` (with its weights) onto the array ``hardware`` names (a grid, a
    preset or a TOML file) and estimate its time. ``module`` is rewritten in place."""
    array = resolve_array(hardware, memtiles)
    graph = only_graph(module)
    name = name or graph.sym_name.data
    quantized = tg.is_quantized(graph)
    passes = compile_passes(options, array, hardware, memtiles, quantized)

    def check(_previous, lowered: ModuleOp, _next) -> None:
        if options.verify_each_pass:
            verify_module(lowered)

    text = pipeline_text(passes)
    try:
        with in_memory_weights(module, arrays) as store:
            apply_pipeline(PassPipeline(tuple(passes), check), Context(), module)
            final = current_weights(module)
            files = dict(store)
    except MappingError as error:
        return CompileResult(name, array, options.sparsity, None, None, error.message,
                             pipeline=text, options=options)
    if not options.verify_each_pass:
        verify_module(module)
    return CompileResult(name, module_array(module), options.sparsity, module,
                         time_network(module, options.cost_model), weights=final,
                         files=files,
                         quantized=quantized or options.quantize, pipeline=text,
                         options=options, folder=ir_folder())


def load_ir_or_model(source: str) -> tuple[ModuleOp, str | None, BuiltModel | None]:
    """A text IR file (verified), or a built-in model by name; returns the module, the IR
    path (None for a model) and the built model (None for a file)."""
    if os.path.exists(source):
        return load_module(source), source, None
    if source.endswith((".mlir", ".onnx", ".npz")):
        raise BsirError(f"no such file: {source}")
    built = build_model(source)
    return built.module, None, built


def load_source(source: str, weights_seed: int = 0
                ) -> tuple[ModuleOp, Mapping[str, np.ndarray], str | None]:
    """:func:`load_ir_or_model` with the weights: the IR file's, or the model's made from
    ``weights_seed`` when first read (:class:`LazyWeights`)."""
    module, ir_path, built = load_ir_or_model(source)
    if built is None:
        return module, load_weights(module, ir_path), ir_path
    return module, LazyWeights(built.specs, weights_seed), None


def quantize_module(module: ModuleOp, arrays: Mapping[str, np.ndarray],
                    options: CompileOptions = CompileOptions()) -> dict[str, np.ndarray]:
    """Fold batch norms and quantize ``module`` in place (calibrated as ``options``
    says); returns its INT8 weights."""
    passes = [TgFoldBatchnormPass(), _quantize_pass(options)]
    with in_memory_weights(module, arrays):
        apply_pipeline(PassPipeline(tuple(passes)), make_context(), module)
        return current_weights(module)


def _first_set(shapes: list[tuple[int, ...]], seed: int) -> list[np.ndarray]:
    return random_arrays(shapes, seed)[0]


def compile_source(source: str, hardware: str = "4x4", memtiles: str = "shared",
                   options: CompileOptions = CompileOptions(), weights_seed: int = 0,
                   inputs: list[np.ndarray] | None = None) -> CompileResult:
    """:func:`compile_module` of a built-in model or an IR file. ``inputs`` (one array per
    graph input) are calibrated on unless ``options`` names a calibration file; without
    them a standard-normal input is drawn from ``options.seed``."""
    module, arrays, ir_path = load_source(source, weights_seed)
    if inputs is not None:
        check_inputs(only_graph(module), inputs)
        if not options.calibration_file:
            options = replace(options, calibration=tuple(inputs))
    if inputs is not None:
        used: list[np.ndarray] | Callable[[], list[np.ndarray]] = list(inputs)
    else:  # drawn if read: the graph's input shapes now, before compiling rewrites it
        shapes = [tg.tensor_shape(arg) for arg in only_graph(module).block.args]
        used = partial(_first_set, shapes, options.seed)
    with ir_location(ir_path):
        result = compile_module(module, arrays, hardware, memtiles, options)
    result.inputs = used
    return result
