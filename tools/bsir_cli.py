"""bsir: the user-facing command (docs/cli.md).

Every sub-command exits 0 on success and 1 or 2 with a one-line reason on bad input;
every file it writes follows :mod:`bsir.files` (atomic, never over an input).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from xdsl.dialects.builtin import ModuleOp, StringAttr

from bsir.diagnostics import BsirError, MappingError, UsageError, guarded_main
from bsir.dialects import tg
from bsir.dialects.tg import WEIGHTS_ATTR, only_graph
from bsir.files import check_output, file_run, note_input, write_json
from bsir.ir import print_module
from bsir.models import MODELS, PAPER_MODELS, build_model
from bsir.stats import LayerStats, layer_stats, summarize
from bsir.targets.aie2.cost import OVERLAPS
from bsir.targets.aie2.paper_cost import COST_MODELS

TOOL = "bsir"


def _shape(shape: Sequence[int] | None) -> str:
    return "-" if shape is None else "x".join(str(d) for d in shape)


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(c) for c in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 or not c[:1].isdigit() else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])


# --------------------------------------------------------------------------- commands


def cmd_models(_args: argparse.Namespace) -> int:
    rows = []
    for name, build in MODELS.items():
        summary = summarize(build().module)
        rows.append((name, _shape(summary.input_shape), f"{summary.params:,}",
                     f"{summary.macs / 1e9:.3f}", summary.layers, summary.weighted_layers))
    print(_table(("model", "input (NHWC)", "params", "GMACs", "layers", "conv+fc"), rows))
    return 0


def _stats_json(name: str, stats: list[LayerStats]) -> dict[str, object]:
    return {
        "model": name,
        "params": sum(s.params for s in stats),
        "macs": sum(s.macs for s in stats),
        "layers": [
            {"name": s.name, "op": s.op, "inputs": [list(i) for i in s.input_shapes],
             "output": list(s.output_shape),
             "weight": None if s.weight_shape is None else list(s.weight_shape),
             "params": s.params, "macs": s.macs, "density": s.density}
            for s in stats
        ],
    }


def cmd_stats(args: argparse.Namespace) -> int:
    from bsir.driver.compile import load_ir_or_model

    module, _, _ = load_ir_or_model(args.source)
    summary = summarize(module)
    stats = layer_stats(module)
    if args.json:
        write_json(args.json, _stats_json(summary.name, stats))
    rows = [
        (s.name, s.op.removeprefix("tg."), " ".join(_shape(i) for i in s.input_shapes),
         _shape(s.output_shape), _shape(s.weight_shape), f"{s.params:,}", f"{s.macs:,}",
         f"{s.density:.2f}")
        for s in stats
        if args.all or s.op != "tg.relu"
    ]
    print(_table(("layer", "op", "input", "output", "weight", "params", "MACs", "density"), rows))
    print(f"\n{summary.name}: {summary.params:,} parameters, {summary.macs:,} MACs "
          f"({summary.macs / 1e9:.3f} G), {summary.layers} layers, "
          f"{summary.weighted_layers} conv/linear")
    return 0


def write_ir_with_weights(module: ModuleOp, output: str, arrays: dict | None) -> list[str]:
    """Write ``module`` to ``output`` and, if given, its weights beside it (``X.npz``);
    returns the paths written."""
    from bsir.weights import weights_file, write_module

    if output == "-":
        if arrays is not None:
            raise BsirError("IR on standard output cannot carry its weights (the .npz "
                            "needs a file name): give -o FILE, or --no-weights")
        sys.stdout.write(print_module(module))
        return []
    files = {}
    if arrays is not None:
        module.attributes[WEIGHTS_ATTR] = StringAttr("weights.npz")
        files = {weights_file(module): arrays}
    return write_module(module, output, files)


def _size(count: int) -> str:
    return f"{count / 1024:.1f} KiB" if count < 1024 ** 2 else f"{count / 1024 ** 2:.1f} MiB"


def _say_written(paths: Sequence[str]) -> None:
    """One line naming every file written, with its size."""
    parts = [f"{path} ({_size(os.path.getsize(path))})" for path in paths]
    if parts:
        print(f"wrote {', '.join(parts)}", file=sys.stderr)


def cmd_export(args: argparse.Namespace) -> int:
    from bsir.weights import materialize

    model = build_model(args.model)
    if args.output.endswith(".onnx"):
        from bsir.onnx_export import export_onnx

        export_onnx(model.module, materialize(model.specs, args.seed), args.output)
        _say_written([args.output])
        return 0
    arrays = None if args.no_weights else materialize(model.specs, args.seed)
    _say_written(write_ir_with_weights(model.module, args.output, arrays))
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from bsir.onnx_import import SparsitySource, import_onnx, masks_beside, read_masks

    masks = args.masks if args.masks is not None else masks_beside(args.model)
    if masks == "none":
        source = SparsitySource(detect=False)
    elif masks:
        source = SparsitySource(read_masks(masks))
    else:
        source = SparsitySource(block=_block(args.block))
    notes: list[str] = []
    module, arrays = import_onnx(args.model, source, notes)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    _say_written(write_ir_with_weights(module, args.output, arrays))
    return 0


def _read_inputs(paths: list[str], module: ModuleOp, seed: int) -> list:
    """The graph's inputs: the given ``.npy`` files (checked against the graph), or
    seeded random ones."""
    from bsir.arrays import read_input_array
    from bsir.executor import check_inputs, random_inputs

    if not paths:
        return random_inputs(module, seed)[0]
    arrays = [read_input_array(path) for path in paths]
    check_inputs(only_graph(module), arrays)
    return arrays


def cmd_run(args: argparse.Namespace) -> int:
    import time

    from bsir.driver.compile import load_source
    from bsir.executor import run_module
    from bsir.weights import ir_location

    if args.output:
        check_output(args.output)
    module, arrays, ir_path = load_source(args.source, args.weights_seed)
    with ir_location(ir_path):
        inputs = _read_inputs(args.input, module, args.seed)
        quantized = tg.is_quantized(only_graph(module))
        if args.int8 and not quantized:
            from bsir.driver.compile import CompileOptions, quantize_module

            arrays = quantize_module(module, arrays, CompileOptions(calibration=tuple(inputs)))
        elif not args.int8 and quantized:
            raise BsirError("the graph is quantized: run it with --int8")
        start = time.perf_counter()
        outputs = run_module(module, arrays, inputs)
        elapsed = time.perf_counter() - start
    if args.output:
        from bsir.files import write_npy, write_npz

        if len(outputs) == 1:
            write_npy(args.output, outputs[0])
        else:
            write_npz(args.output, {f"output{i}": y for i, y in enumerate(outputs)})
    mode = "int8" if args.int8 else "float32"
    for index, y in enumerate(outputs):
        print(f"output {index}: shape {'x'.join(map(str, y.shape))}, "
              f"min {float(y.min()):.6g}, max {float(y.max()):.6g}")
    print(f"{mode} forward pass: {elapsed * 1e3:.1f} ms")
    return 0


def _count(minimum: int):
    """An argparse type: an integer of at least ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    parse.__name__ = "integer"
    return parse


def _block(text: str) -> tuple[int, int]:
    from bsir.sparsity import parse_block

    try:
        return parse_block(text)
    except ValueError as error:
        raise BsirError(str(error)) from None


def print_compile_table(result) -> None:
    timing = result.timing
    rows = []
    overlapped = timing.overlapped
    for layer in timing.layers:
        cores, sub = layer.split_labels()
        passes = "x".join(map(str, layer.split["ddr_passes"]))
        op = layer.op.removeprefix("tg.") + (" (zeros kept)" if layer.keeps_zeros else "")
        window = (f"{layer.start_s * 1e6:.1f}", f"{layer.hidden_ddr_s * 1e6:.1f}") \
            if overlapped else ()
        rows.append((layer.name, op, cores, sub, passes,
                     f"{layer.macs_computed:,}", *window, f"{layer.ddr_s * 1e6:.1f}",
                     f"{layer.memtile_core_s * 1e6:.1f}", f"{layer.compute_s * 1e6:.1f}",
                     f"{layer.total_s * 1e6:.1f}", f"{layer.window_bound_s * 1e6:.1f}",
                     f"{layer.window_bound_s / layer.total_s:.2f}" if layer.total_s else "-",
                     layer.bound_by, layer.binds))
    print(_table(("layer", "op", "split", "subvolume hxwxcoutxcin", "ddr passes",
                  "MACs computed", *(("start us", "hidden DDR us") if overlapped else ()),
                  "DDR us", "memtile-core us", "compute us", "total us",
                  "bound us", "bound/total", "bound by", "paced by"), rows))
    label = f"sparsity {result.sparsity}" if result.sparsity > 0 else result.sparsity_label()
    print(f"\n{result.model} on {result.array.name} ({result.array.rows}x{result.array.cols}, "
          f"{result.array.memtile_mode} memtiles), {label}: "
          f"total {timing.total_s * 1e3:.3f} ms = DDR {timing.ddr_s * 1e3:.3f} + "
          f"memtile-core {timing.memtile_core_s * 1e3:.3f} + compute "
          f"{timing.compute_s * 1e3:.3f} ms; lower bound "
          f"{timing.bound_s * 1e3:.3f} ms ({timing.bound_s / timing.total_s:.0%} of the "
          "estimate)")
    if overlapped:
        print(f"weights loaded ahead: {timing.hidden_ddr_s * 1e3:.3f} ms of DDR time hidden "
              "under earlier layers (DDR us: what each layer still waits for; the network "
              "ends when its last layer does)")
    if timing.cost_model == "paper":
        print(f"timed by the paper's estimator (rules R1-R6; docs/design.md): convolutional "
              f"part {timing.conv_s * 1e3:.3f} ms; the lower bound is bsir's own rules'")


def cmd_compile(args: argparse.Namespace) -> int:
    from bsir.driver.compile import CompileOptions, compile_source

    if not 0.0 <= args.sparsity < 1.0:
        raise BsirError(f"--sparsity is a fraction in [0, 1), got {args.sparsity}")
    for output in (args.json, args.trace, args.report, args.output):
        if output:
            check_output(output)
    wants_program = bool(args.verify or args.output)
    from bsir.arrays import read_input_array

    calibration = [read_input_array(path) for path in args.input]
    options = CompileOptions(args.sparsity, _block(args.block), args.criterion,
                             linear=args.linear, quantize=wants_program, seed=args.input_seed,
                             calibration_file=args.input[0] if len(args.input) == 1 else "",
                             cost_model=args.cost_model, overlap=args.overlap)
    result = compile_source(args.source, args.grid, args.memtiles, options,
                            weights_seed=args.seed, inputs=calibration or None)
    if args.print_pipeline:
        print(result.pipeline)
    if args.json:
        write_json(args.json, result.to_json())
    if result.failed:
        raise MappingError(f"{result.model} does not fit {result.array.name}: {result.failed}")
    if args.trace:
        result.trace(args.trace)
    print_compile_table(result)
    if args.output:
        _say_written(result.write_ir(args.output))
    if args.report:
        baseline = None
        if args.sparsity > 0 and not args.no_dense_baseline:
            dense = compile_source(args.source, args.grid, args.memtiles,
                                   CompileOptions(quantize=False, cost_model=args.cost_model,
                                                  overlap=args.overlap),
                                   weights_seed=args.seed)
            if dense.failed:
                print(f"note: the dense model does not fit ({dense.failed}); the report shows "
                      "the sparse compilation alone")
            else:
                baseline = dense
        result.report(args.report, baseline=baseline)
        print(f"\nreport: {args.report}")
    if args.verify:
        report = result.verify(result.inputs)
        print(f"\nverified: the simulated program matches the reference executor bit for bit "
              f"on {report.layers} layers ({report.elements:,} values); simulation "
              f"{report.simulation_s:.1f} s, reference {report.reference_s:.2f} s")
    return 0


def cmd_table2(args: argparse.Namespace) -> int:
    from bsir.driver.table2 import format_table2, run_table2

    for output in (args.json, args.report):
        if output:
            check_output(output)
    cells = run_table2(args.jobs, models=args.models or None, overlap=args.overlap)
    print(format_table2(cells))
    if args.json:
        write_json(args.json, cells)
    if args.report:
        from bsir.targets.aie2.report import write_table2_report

        write_table2_report(args.report, cells)
        print(f"\nreport: {args.report}")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from bsir.driver.sweep import SweepInterrupted, load_spec, run_sweep, write_fronts

    configs = load_spec(args.spec)
    note_input(args.spec)
    bars: list = []

    def progress(done: int, todo: int) -> None:
        if not bars:  # made once the rows already there are known: ETA for the rest
            bars.append(_progress_bar(todo, args.progress))
        if bars[0] is not None and done:
            bars[0].update()

    try:
        summary = run_sweep(configs, args.output, args.jobs, args.verify, progress,
                            ray=args.ray)
    except SweepInterrupted as error:
        print(str(error), file=sys.stderr)
        return 130
    finally:
        if bars and bars[0] is not None:
            bars[0].close()
    print(f"{summary.configurations} configurations: {summary.skipped} already done, "
          f"{summary.ran} compiled, {summary.failed} do not fit")
    files = list(summary.files)
    if args.plot:
        files += write_fronts(args.output, configs)
    for path in files:
        print(f"wrote {path}")
    return 0


def _progress_bar(total: int, wanted: bool):
    """A tqdm progress bar with ETA on stderr (None when off or tqdm is missing)."""
    if not wanted:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="config", file=sys.stderr, dynamic_ncols=True)


# --------------------------------------------------------------------------- parser


class _HelpWithDefaults(argparse.HelpFormatter):
    """Help that shows each option's default, where it has one worth showing."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        shown = not (default is None or default is False or default == []
                     or default is argparse.SUPPRESS)
        if shown and "%(default)" not in text and "default" not in text:
            text += " (default: %(default)s)"
        return text


VALUE_OPTIONS = ("--grid", "--block", "--memtiles", "--criterion")
"""Options whose value may start with '-' (``--grid -1x2`` is a bad grid, not a flag)."""


def _glue_dash_values(argv: Sequence[str]) -> list[str]:
    """``--grid -1x2`` -> ``--grid=-1x2``, so that the value gets its own clear error."""
    out: list[str] = []
    for token in argv:
        if out and out[-1] in VALUE_OPTIONS and token.startswith("-") and len(token) > 1 \
                and not token.startswith("--"):
            out[-1] = f"{out[-1]}={token}"
        else:
            out.append(token)
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=TOOL, description="bsir: a block-sparse compiler for AIE2 accelerators"
    )
    parser.error = lambda message: _usage_error(message)  # type: ignore[method-assign]
    sub = parser.add_subparsers(dest="command", metavar="COMMAND",
                                parser_class=_subparser_class())
    sub.required = True

    p = sub.add_parser("models", help="built-in models with parameter and MAC counts")
    p.set_defaults(run=cmd_models)

    p = sub.add_parser("stats", help="params, MACs and per-layer shapes of one model")
    p.add_argument("source", help="a text IR file or a built-in model name")
    p.add_argument("--all", action="store_true", help="list activation layers too")
    p.add_argument("--json", help="also write the statistics as JSON")
    p.set_defaults(run=cmd_stats)

    p = sub.add_parser("export", help="write a built-in model as tg IR plus its .npz, or ONNX")
    p.add_argument("model", help=f"one of: {', '.join(MODELS)}")
    p.add_argument("-o", "--output", required=True,
                   help="IR file (weights go to FILE.npz), or FILE.onnx for ONNX")
    p.add_argument("--seed", type=_count(0), default=0, help="weight seed")
    p.add_argument("--no-weights", action="store_true", help="write the IR only")
    p.add_argument("--force", action="store_true",
                   help="replace an existing FILE.npz that bsir did not write for FILE")
    p.set_defaults(run=cmd_export)

    p = sub.add_parser("import", help="convert an ONNX model to tg IR plus its .npz")
    p.add_argument("model", help="an .onnx file")
    p.add_argument("-o", "--output", required=True, help="IR file; weights go to FILE.npz")
    p.add_argument("--masks", help="block masks saved by bsir.train (default: MODEL.masks.npz "
                                   "when it exists); 'none' imports every layer dense")
    p.add_argument("--block", default="8x8",
                   help="without masks, layers with all-zero blocks of this shape are sparse")
    p.add_argument("--force", action="store_true",
                   help="replace an existing FILE.npz that bsir did not write for FILE")
    p.set_defaults(run=cmd_import)

    p = sub.add_parser("train", help="fine-tune a PyTorch model with block masks "
                                     "(extra: train; runs under torchrun too)")
    from bsir.train.cli import add_arguments, run

    add_arguments(p)
    p.set_defaults(run=run)

    p = sub.add_parser("run", help="run a graph with the reference executor")
    p.add_argument("source", help="a text IR file or a built-in model name")
    p.add_argument("--input", action="append", default=[],
                   help="an .npy input (NHWC), once per graph input; default: seeded random")
    p.add_argument("-o", "--output", help="write the output to this .npy")
    p.add_argument("--int8", action="store_true",
                   help="exact int8 (a float graph is first folded and quantized, calibrated "
                        "on the input)")
    p.add_argument("--seed", type=_count(0), default=0, help="seed of the random input")
    p.add_argument("--weights-seed", type=_count(0), default=0,
                   help="weight seed when SOURCE is a built-in model")
    p.set_defaults(run=cmd_run)

    p = sub.add_parser("compile", help="lower a model onto an AIE2 array and estimate its time")
    p.add_argument("source", help="a text IR file or a built-in model name")
    p.add_argument("--grid", default="4x4",
                   help="ROWSxCOLS, a preset (ryzen-ai-strix, ...) or a hardware .toml")
    p.add_argument("--memtiles", choices=("shared", "separate"), default="shared",
                   help="activations and weights share each memtile, or get their own")
    p.add_argument("--sparsity", type=float, default=0.0,
                   help="fraction of weight blocks to zero on every conv but the first")
    p.add_argument("--block", default="8x8", help="sparsity block over (COUT, CIN)")
    p.add_argument("--criterion", default="l2", help="l1, l2, variance, variance-global")
    p.add_argument("--linear", action="store_true",
                   help="with --sparsity: linear layers too (a transformer's projections "
                        "and MLP)")
    p.add_argument("--json", help="write the estimate as JSON (schema: docs/cli.md)")
    p.add_argument("--trace", help="write a Chrome/Perfetto trace of the timeline")
    p.add_argument("--report", help="write a self-contained HTML report: layer table, "
                                    "timeline, memtile occupancy (with --sparsity, beside "
                                    "the dense compilation of the same model)")
    p.add_argument("--no-dense-baseline", action="store_true",
                   help="with --report and --sparsity: do not compile the dense model to "
                        "compare with")
    p.add_argument("--seed", type=_count(0), default=0, help="weight seed for a built-in model")
    p.add_argument("--verify", action="store_true",
                   help="simulate the program and compare every layer bit for bit with the "
                        "reference executor")
    p.add_argument("--input", action="append", default=[],
                   help="an .npy input (NHWC) to calibrate and verify on, once per graph "
                        "input; default: seeded random")
    p.add_argument("--input-seed", type=_count(0), default=0, help="seed of the random input")
    p.add_argument("-o", "--output",
                   help="write the lowered INT8 program (aie2 IR) here, its weights beside it")
    p.add_argument("--print-pipeline", action="store_true",
                   help="print the bsir-opt pipeline that lowers the model as this compile "
                        "does")
    p.add_argument("--cost-model", choices=COST_MODELS, default="honest",
                   help="time the program by bsir's rules or by the paper's estimator's "
                        "(R1-R6 of docs/design.md; with --grid paper, its GiB/s too)")
    p.add_argument("--overlap", choices=OVERLAPS, default="none",
                   help="weights: load each layer's weights while the layers before it run, "
                        "into memtile space they leave free (beyond the paper, whose layers "
                        "never overlap)")
    p.set_defaults(run=cmd_compile)

    p = sub.add_parser("table2", help="the paper's Table 2, beside its figures")
    p.add_argument("--json", help="write the cells as JSON")
    p.add_argument("--jobs", type=_count(1), default=1, help="worker processes")
    p.add_argument("--models", nargs="*", choices=PAPER_MODELS, metavar="MODEL",
                   help=f"a subset of {' '.join(PAPER_MODELS)}")
    p.add_argument("--report", help="write the cells as a self-contained HTML chart, ours "
                                    "beside the paper's")
    p.add_argument("--overlap", choices=OVERLAPS, default="none",
                   help="weights: each cell with weights loaded under earlier layers "
                        "(beyond the paper; see bsir compile --overlap)")
    p.set_defaults(run=cmd_table2)

    p = sub.add_parser("sweep", help="compile every configuration of a spec (TOML): "
                                     "models x grids x memtiles x sparsities x ...")
    p.add_argument("spec", help="the sweep spec (docs/cli.md#bsir-sweep)")
    p.add_argument("-o", "--output", required=True,
                   help="results folder: rows.jsonl, results.csv, results.parquet; a "
                        "re-run skips the configurations already there")
    p.add_argument("--jobs", type=_count(1), default=os.cpu_count() or 1,
                   help="worker processes (1: compile in this process)")
    p.add_argument("--verify", action="store_true",
                   help="also simulate each INT8 program bit for bit")
    p.add_argument("--ray", metavar="ADDRESS",
                   help="run on Ray, a task per few configurations: 'local' (an instance of "
                        "--jobs CPUs started here), 'auto' (the running cluster) or the "
                        "cluster's address (needs bsir[cluster])")
    p.add_argument("--plot", action="store_true",
                   help="also draw the Pareto fronts (time against cores, against the "
                        "weights kept; sparse speed-up per grid): fronts.html, fronts.png")
    p.add_argument("--no-progress", dest="progress", action="store_false",
                   help="no progress bar (one with ETA is drawn on stderr by default)")
    p.set_defaults(run=cmd_sweep)

    for name, sub_parser in sub.choices.items():
        sub_parser.error = (  # type: ignore[method-assign]
            lambda message, name=name: _usage_error(message, name)
        )
    return parser


def _subparser_class() -> type[argparse.ArgumentParser]:
    class SubParser(argparse.ArgumentParser):
        def __init__(self, *args, **kwargs):
            kwargs.setdefault("formatter_class", _HelpWithDefaults)
            super().__init__(*args, **kwargs)

    return SubParser


def _usage_error(message: str, command: str | None = None) -> None:
    where = f"{TOOL} {command}" if command else TOOL
    raise UsageError(f"{message} (see {where} --help)")


def main(argv: Sequence[str] | None = None) -> int:
    """The ``bsir`` command, callable in process (tests, scripts)."""

    def body() -> int:
        args = build_parser().parse_args(
            _glue_dash_values(sys.argv[1:] if argv is None else argv))
        with file_run(force=getattr(args, "force", False)):
            return args.run(args)

    return guarded_main(TOOL, body)


if __name__ == "__main__":
    sys.exit(main())
