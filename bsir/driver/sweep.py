"""Design-space sweeps: many compilations from one spec, in parallel, resumable.

A spec (TOML) lists values per dimension; the sweep compiles the cartesian product of
them, or the explicit ``[[configuration]]`` list when the spec has one::

    models = ["resnet50", "net.mlir"]       # built-in names, IR or ONNX files
    grids = ["4x4", "2..8x2..8"]             # ROWSxCOLS, or ranges of rows and columns
    hardware = ["ryzen-ai-strix"]            # presets or hardware TOML files
    memtiles = ["shared", "separate"]
    sparsities = [0.0, 0.5, "auto:0.75"]    # auto: keep dense what sparsity does not speed
    blocks = ["8x8", "4x4"]
    criteria = ["l2"]
    overrides = ["", "layer4.*=0.75"]        # per-layer sparsities (tg-sparsify)
    cost_models = ["honest", "paper"]
    overlap = ["none", "weights"]            # schedule options (--overlap)

Every key may be omitted for its default (``grids`` and ``hardware`` together make the
array dimension; ``4x4`` when both are missing). Each configuration's row carries the
figures of ``bsir compile --json``'s summary (total, its DDR, memtile-core and compute
parts, bound, the convolutional part, failed and why) and is named by a hash of the
configuration and the compiler's version: a re-run skips the rows already present, and
rows are appended one by one as compilations finish, so an interrupted sweep loses
nothing already done. The rows file is ``rows.jsonl``; ``results.csv`` (and
``results.parquet`` with pyarrow) tabulate it, one row per configuration in spec order.
Compilations run on a local process pool, or on Ray (a local instance or a cluster);
:func:`front_data` and :func:`write_fronts` draw the rows' Pareto fronts.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import math
import os
import re
import tomllib
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, fields, replace

from bsir.diagnostics import BsirError
from bsir.files import write_atomically
from bsir.targets.aie2.cost import OVERLAPS

SPEC_KEYS = ("models", "grids", "hardware", "memtiles", "sparsities", "blocks", "criteria",
             "overrides", "cost_models", "overlap")
"""The dimensions of a spec, in the order configurations vary (the last fastest)."""

AUTO_RATIO = 0.5
"""The block sparsity ``sparsities = ["auto"]`` tries on every layer."""


ROWS_FILE, CSV_FILE, PARQUET_FILE = "rows.jsonl", "results.csv", "results.parquet"
FRONT_FILES = ("fronts.html", "fronts.png")

WORKER_RETRIES = 2
"""How often a configuration is tried again after its worker process died."""


class SweepError(BsirError):
    """A spec that cannot be swept, or a results folder that is not a sweep's."""


class SweepInterrupted(BsirError):
    """The sweep was stopped (SIGINT) before every configuration finished."""


@dataclass(frozen=True)
class Configuration:
    """One compilation of a sweep."""

    model: str
    hardware: str = "4x4"
    memtiles: str = "shared"
    sparsity: float = 0.0
    block: str = "8x8"
    criterion: str = "l2"
    overrides: str = ""
    cost_model: str = "honest"
    overlap: str = "none"
    sparsity_auto: bool = False
    """Keep dense (and accurate) the layers whose time the sparsity does not reduce."""

    @property
    def key(self) -> str:
        """The row's name: a hash of the configuration and the compiler's version."""
        from bsir import __version__

        text = json.dumps({"bsir": __version__, **asdict(self)}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


DEFAULTS = Configuration(model="")
_KEY_OF_FIELD = {"model": "models", "hardware": "hardware", "memtiles": "memtiles",
                 "sparsity": "sparsities", "block": "blocks", "criterion": "criteria",
                 "overrides": "overrides", "cost_model": "cost_models", "overlap": "overlap"}


# --------------------------------------------------------------------------- the spec


def load_spec(path: str) -> list[Configuration]:
    """The configurations of the spec at ``path``."""
    try:
        with open(path, "rb") as stream:
            data = tomllib.load(stream)
    except OSError as error:
        raise SweepError(f"cannot read the sweep spec: {error.strerror or error}",
                         path) from None
    except tomllib.TOMLDecodeError as error:
        raise SweepError(f"not a TOML file: {error}", path) from None
    return parse_spec(data, path, os.path.dirname(os.path.abspath(path)))


def parse_spec(data: dict, where: str = "spec", folder: str = ".") -> list[Configuration]:
    """The configurations a spec's ``data`` lists: the cartesian product of its
    dimensions, or its ``[[configuration]]`` tables. Relative file names (models,
    hardware TOML) are read relative to ``folder``."""
    unknown = sorted(set(data) - set(SPEC_KEYS) - {"configuration"})
    if unknown:
        raise SweepError(f"unknown key '{unknown[0]}' (known: "
                         f"{', '.join((*SPEC_KEYS, 'configuration'))})", where)
    explicit = data.get("configuration")
    if explicit is not None:
        if any(key in data for key in SPEC_KEYS):
            raise SweepError("give either the dimensions or a [[configuration]] list, "
                             "not both", where)
        if not isinstance(explicit, list) or not explicit:
            raise SweepError("'configuration' must be a non-empty list of tables", where)
        return [_explicit(entry, f"{where}: configuration {index + 1}", folder)
                for index, entry in enumerate(explicit)]
    if "models" not in data:
        raise SweepError("a spec needs 'models' (or a [[configuration]] list)", where)
    values = {key: _values(data, key, where) for key in SPEC_KEYS}
    arrays = [_array(_path(g, folder), where, "grids") for text in values["grids"]
              for g in expand_grids(_text(text, where, "grids"), where)] \
        + [_array(_path(_text(h, where, "hardware"), folder), where, "hardware")
           for h in values["hardware"]]
    dimensions = {
        "model": [_model(_text(m, where, "models"), folder, where) for m in values["models"]],
        "hardware": arrays or [DEFAULTS.hardware],
        "memtiles": [_choice(m, ("shared", "separate"), where, "memtiles")
                     for m in values["memtiles"]] or [DEFAULTS.memtiles],
        "sparsity": [_sparsity(s, where) for s in values["sparsities"]] or [(0.0, False)],
        "block": [_block(b, where) for b in values["blocks"]] or [DEFAULTS.block],
        "criterion": [_criterion(c, where) for c in values["criteria"]]
        or [DEFAULTS.criterion],
        "overrides": [_overrides(o, where) for o in values["overrides"]] or [""],
        "cost_model": [_cost_model(c, where) for c in values["cost_models"]]
        or [DEFAULTS.cost_model],
        "overlap": [_choice(o, OVERLAPS, where, "overlap") for o in values["overlap"]]
        or [DEFAULTS.overlap],
    }
    names = [f.name for f in fields(Configuration) if f.name != "sparsity_auto"]
    configs = []
    for combo in itertools.product(*(dimensions[name] for name in names)):
        values = dict(zip(names, combo, strict=True))
        values["sparsity"], values["sparsity_auto"] = values["sparsity"]
        configs.append(Configuration(**values))
    return list(dict.fromkeys(configs))  # a value listed twice is one configuration


def expand_grids(text: str, where: str = "spec") -> list[str]:
    """``"4x4"`` -> ["4x4"]; ``"2..3x4..5"`` -> ["2x4", "2x5", "3x4", "3x5"]; anything
    else (a preset, ``paper-8x8``, a TOML file) as it is."""
    match = re.fullmatch(r"\s*(\d+)(?:\.\.(\d+))?\s*x\s*(\d+)(?:\.\.(\d+))?\s*", text)
    if not match or (match.group(2) is None and match.group(4) is None):
        return [text.strip()]
    r0, c0 = int(match.group(1)), int(match.group(3))
    r1, c1 = int(match.group(2) or r0), int(match.group(4) or c0)
    if r1 < r0 or c1 < c0:
        raise SweepError(f"grids: the range '{text}' is empty (FROM..TO with FROM <= TO)",
                         where)
    return [f"{r}x{c}" for r in range(r0, r1 + 1) for c in range(c0, c1 + 1)]


def _values(data: dict, key: str, where: str) -> list:
    value = data.get(key, [])
    values = value if isinstance(value, list) else [value]
    if key in data and not values:
        raise SweepError(f"'{key}' is empty: omit it for its default", where)
    return values


def _text(value: object, where: str, key: str) -> str:
    if not isinstance(value, str):
        raise SweepError(f"{key}: expected text, got {value!r}", where)
    return value


def _path(text: str, folder: str) -> str:
    if text.endswith((".mlir", ".onnx", ".toml")) and not os.path.isabs(text):
        return os.path.normpath(os.path.join(folder, text))
    return text


def _model(text: str, folder: str, where: str) -> str:
    from bsir.models import MODELS

    path = _path(text, folder)
    if os.path.exists(path) or text.lower() in MODELS:
        return path if os.path.exists(path) else text
    if text.endswith((".mlir", ".onnx")):
        raise SweepError(f"models: no such file: {path}", where)
    raise SweepError(f"models: unknown model '{text}' (built-in: {', '.join(MODELS)}; or "
                     "an IR or ONNX file)", where)


def _array(text: str, where: str, key: str) -> str:
    from bsir.targets.aie2.hardware import resolve_array

    try:
        resolve_array(text)
    except BsirError as error:
        raise SweepError(f"{key}: {error.message}", where) from None
    return text


def _choice(value: object, allowed: Sequence[str], where: str, key: str) -> str:
    if value not in allowed:
        raise SweepError(f"{key}: '{value}' is not one of {', '.join(allowed)}", where)
    return str(value)


def _sparsity(value: object, where: str) -> tuple[float, bool]:
    """A ratio, or ``"auto"`` / ``"auto:RATIO"`` (RATIO 0.5 by default): (ratio, auto)."""
    auto = isinstance(value, str) and (value == "auto" or value.startswith("auto:"))
    if auto:
        try:
            value = float(value.partition(":")[2] or AUTO_RATIO)
        except ValueError:
            raise SweepError(f"sparsities: expected 'auto:RATIO', got {value!r}",
                             where) from None
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not 0.0 <= value < 1.0:
        raise SweepError(f"sparsities: expected a ratio in [0, 1) or 'auto:RATIO', got "
                         f"{value!r}", where)
    return float(value), auto


def _block(value: object, where: str) -> str:
    from bsir.sparsity import parse_block

    try:
        rows, cols = parse_block(_text(value, where, "blocks"))
    except ValueError as error:
        raise SweepError(f"blocks: {error}", where) from None
    return f"{rows}x{cols}"


def _criterion(value: object, where: str) -> str:
    from bsir.sparsity import CRITERIA

    return _choice(value, CRITERIA, where, "criteria")


def _cost_model(value: object, where: str) -> str:
    from bsir.targets.aie2.paper_cost import COST_MODELS

    return _choice(value, COST_MODELS, where, "cost_models")


def _overrides(value: object, where: str) -> str:
    from bsir.sparsity import parse_overrides

    if isinstance(value, dict):  # an inline table: { "layer4.*" = 0.75 }
        value = " ".join(f"{pattern}={ratio}" for pattern, ratio in value.items())
    try:
        parse_overrides(_text(value, where, "overrides"))
    except ValueError as error:
        raise SweepError(f"overrides: {error}", where) from None
    return str(value)


def _explicit(entry: object, where: str, folder: str) -> Configuration:
    if not isinstance(entry, dict):
        raise SweepError("expected a table", where)
    unknown = sorted(set(entry) - set(_KEY_OF_FIELD))
    if unknown:
        raise SweepError(f"unknown key '{unknown[0]}' (known: {', '.join(_KEY_OF_FIELD)})",
                         where)
    if "model" not in entry:
        raise SweepError("a configuration needs a 'model'", where)
    single = {key: [entry[name]] for name, key in _KEY_OF_FIELD.items() if name in entry}
    if "hardware" in single:  # a grid or a preset or a TOML file, one array
        single["grids"] = single.pop("hardware")
    configs = parse_spec(single, where, folder)
    if len(configs) != 1:
        raise SweepError("a configuration names one array (a grid, not a range)", where)
    return configs[0]


# --------------------------------------------------------------------------- one row


ROW_FIGURES = ("total_s", "ddr_s", "memtile_core_s", "compute_s", "bound_s", "conv_s",
               "efficiency", "density", "dense_layers", "layers", "failed", "verified")
"""The figures of a row, after its key and configuration."""


def run_configuration(config: Configuration, verify: bool = False) -> dict:
    """Compile one configuration; its row (a configuration that does not fit is a row
    with ``failed`` saying why; a bad model or option raises).

    With ``sparsity_auto``, the layers whose time the sparsity does not reduce (each
    layer's estimate sparse against the same compilation dense) are kept dense, and
    the row's ``dense_layers`` counts them: same time, more weights kept."""
    from bsir.driver.compile import CompileOptions, compile_source
    from bsir.sparsity import parse_block

    options = CompileOptions(sparsity=config.sparsity, block=parse_block(config.block),
                             criterion=config.criterion, overrides=config.overrides,
                             quantize=verify and not config.sparsity_auto,
                             cost_model=config.cost_model, overlap=config.overlap)

    def compile_with(options: CompileOptions):
        if not config.model.endswith(".onnx"):
            return compile_source(config.model, config.hardware, config.memtiles, options)
        from bsir.driver.compile import compile_module
        from bsir.onnx_import import import_onnx

        module, weights = import_onnx(config.model)
        return compile_module(module, weights, config.hardware, config.memtiles, options,
                              name=os.path.splitext(os.path.basename(config.model))[0])

    result = compile_with(options)
    kept_dense: list[str] = []
    if config.sparsity_auto and result.timing is not None and not result.failed:
        dense = compile_with(replace(options, sparsity=0.0, overrides=""))
        if dense.timing is not None:
            kept_dense = _not_faster_sparse(result.timing.layers, dense.timing.layers)
        overrides = " ".join([config.overrides, *(f"{_pattern(n)}=0" for n in kept_dense)])
        result = compile_with(replace(options, overrides=overrides.strip(), quantize=verify))
    row: dict = {"key": config.key, **asdict(config)}
    timing = result.timing
    if timing is None or result.failed:
        row.update({name: None for name in ROW_FIGURES})
        row["failed"] = result.failed or "no estimate"
        return row
    row.update({
        "total_s": timing.total_s,
        "ddr_s": timing.ddr_s, "memtile_core_s": timing.memtile_core_s,
        "compute_s": timing.compute_s,
        "bound_s": timing.bound_s, "conv_s": timing.conv_s,
        "efficiency": timing.bound_s / timing.total_s if timing.total_s else None,
        "density": weight_density(result.module), "dense_layers": len(kept_dense),
        "layers": len(timing.layers), "failed": None, "verified": None,
    })
    if verify:
        result.verify()  # a mismatch raises: the compiler is wrong, not the input
        row["verified"] = True
    return row


def _not_faster_sparse(sparse: Sequence, dense: Sequence) -> list[str]:
    """Names of the sparsified layers whose sparse estimate is not below the dense one's
    (layers fused differently in the two are left sparse)."""
    times = {(layer.name, layer.op): layer.total_s for layer in dense}
    return [layer.name for layer in sparse
            if (layer.blocks is not None or layer.keeps_zeros)  # sparsified
            and (layer.name, layer.op) in times
            and layer.total_s >= times[(layer.name, layer.op)]]


def _pattern(name: str) -> str:
    """An fnmatch pattern matching exactly ``name``."""
    return re.sub(r"([*?\[])", r"[\1]", name)


def weight_density(module) -> float | None:
    """The fraction of the network's weights kept (each layer's kept blocks times its
    weights; 1.0 when dense)."""
    from bsir.dialects import tg

    if module is None:
        return None
    kept = total = 0.0
    for op in module.walk():
        if isinstance(op, tg.WEIGHTED_OPS):
            size = math.prod(tg.tensor_shape(op.weight))
            total += size
            kept += size * (op.sparsity.density() if op.sparsity is not None else 1.0)
    return kept / total if total else None


# --------------------------------------------------------------------------- the rows


class RowStore:
    """A sweep's results folder: the rows file appended one row at a time, and the
    tables made from it."""

    def __init__(self, folder: str):
        self.folder = folder
        self.rows_path = os.path.join(folder, ROWS_FILE)
        self.rows: dict[str, dict] = {}
        if os.path.exists(folder) and not os.path.isdir(folder):
            raise SweepError("the results folder is a file", folder)
        os.makedirs(folder, exist_ok=True)
        if os.path.exists(self.rows_path):
            self._load()
            return
        # a folder without rows is a new sweep's: it replaces none of the user's files
        for name in (CSV_FILE, PARQUET_FILE, *FRONT_FILES):
            if os.path.lexists(os.path.join(folder, name)):
                raise SweepError(f"refusing to replace {name}: the folder holds no sweep "
                                 f"rows ({ROWS_FILE}), so bsir did not write it; choose "
                                 "another results folder", folder)

    def _load(self) -> None:
        with open(self.rows_path, "rb") as stream:
            lines = stream.read().split(b"\n")
        kept: list[bytes] = []
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                if not isinstance(row, dict) or "key" not in row:
                    raise ValueError
            except ValueError:
                if number >= len(lines) - 1:  # a last line cut short by a killed run
                    continue
                raise SweepError(f"line {number} is not a sweep row: not a bsir sweep's "
                                 "rows file; choose another results folder",
                                 self.rows_path) from None
            self.rows[row["key"]] = row
            kept.append(line)
        if len(kept) != sum(1 for line in lines if line.strip()):  # drop the cut line
            write_atomically(self.rows_path, lambda s: s.write(b"".join(
                line + b"\n" for line in kept)))

    def append(self, row: dict) -> None:
        """Add one row: a single write of one line, flushed to disk."""
        line = (json.dumps(row, sort_keys=True) + "\n").encode()
        fd = os.open(self.rows_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
        self.rows[row["key"]] = row

    def write_tables(self, configs: Sequence[Configuration]) -> list[str]:
        """``results.csv`` (and ``results.parquet`` when pyarrow is installed): the rows
        of ``configs`` present, in their order. Returns the files written."""
        columns = ["key", *(f.name for f in fields(Configuration)), *ROW_FIGURES]
        rows = [self.rows[c.key] for c in configs if c.key in self.rows]
        text = io.StringIO()
        writer = csv.DictWriter(text, columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        written = [os.path.join(self.folder, CSV_FILE)]
        write_atomically(written[0], lambda s: s.write(text.getvalue().encode()))
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            return written
        table = pa.Table.from_pylist([{c: row.get(c) for c in columns} for row in rows])
        written.append(os.path.join(self.folder, PARQUET_FILE))
        write_atomically(written[1], lambda s: pq.write_table(table, s))
        return written


# --------------------------------------------------------------------------- the sweep


@dataclass(frozen=True)
class SweepSummary:
    configurations: int
    skipped: int          # rows already present
    ran: int
    failed: int           # configurations that do not fit (rows with 'failed')
    files: tuple[str, ...]


def run_sweep(configs: Sequence[Configuration], folder: str, jobs: int = 1,
              verify: bool = False, progress: Callable[[int, int], None] | None = None,
              ray: str | None = None) -> SweepSummary:
    """Compile every configuration whose row ``folder`` lacks, ``jobs`` at a time
    (processes; 1: in this process) or, with ``ray`` (``"local"``: a Ray instance of
    ``jobs`` CPUs started here; ``"auto"`` or an address: a running cluster), one Ray
    task per configuration; each row is appended as it finishes, then the tables are
    written. ``progress(done, todo)`` is called before the first and after each row. Raises
    :class:`SweepInterrupted` on SIGINT (the rows done are kept)."""
    store = RowStore(folder)
    todo = [c for c in configs if c.key not in store.rows]
    skipped = len(configs) - len(todo)
    done = 0
    if progress is not None:
        progress(0, len(todo))
    try:
        rows = _rows(todo, jobs, verify) if ray is None else _ray_rows(todo, ray, jobs, verify)
        for row in rows:
            store.append(row)
            done += 1
            if progress is not None:
                progress(done, len(todo))
    except KeyboardInterrupt:
        store.write_tables(configs)
        raise SweepInterrupted(
            f"interrupted: {skipped + done} of {len(configs)} configurations have their "
            "row; run the same sweep again to finish it", folder) from None
    files = store.write_tables(configs)
    failed = sum(1 for c in configs if store.rows[c.key].get("failed"))
    return SweepSummary(len(configs), skipped, done, failed, tuple(files))


def _rows(todo: Sequence[Configuration], jobs: int, verify: bool) -> Iterable[dict]:
    if jobs <= 1 or len(todo) <= 1:
        for config in todo:
            yield _located(config, verify)
        return
    attempts = {config: 0 for config in todo}
    pending = list(todo)
    while pending:
        with ProcessPoolExecutor(max_workers=min(jobs, len(pending))) as pool:
            futures: dict[Future, Configuration] = {}
            try:
                for config in pending:
                    futures[pool.submit(_located, config, verify)] = config
            except BrokenProcessPool:  # a worker died already: the rest go to the next pool
                pass
            pending = pending[len(futures):]
            try:
                while futures:
                    finished, _ = wait(futures, return_when=FIRST_COMPLETED)
                    for future in finished:
                        config = futures.pop(future)
                        try:
                            yield future.result()
                        except BrokenProcessPool:  # its worker died: try it again
                            attempts[config] += 1
                            if attempts[config] > WORKER_RETRIES:
                                raise SweepError(
                                    f"the worker compiling {_describe(config)} died "
                                    f"{attempts[config]} times") from None
                            pending.append(config)
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                raise


def _ray_rows(todo: Sequence[Configuration], address: str, jobs: int, verify: bool
              ) -> Iterable[dict]:
    """Rows computed by Ray tasks, as they finish; a task whose worker dies is retried
    by Ray (:data:`WORKER_RETRIES` times)."""
    try:
        import ray
    except ImportError:
        raise SweepError("--ray needs Ray: pip install 'bsir[cluster]'") from None
    if not todo:
        return
    started = not ray.is_initialized()
    if started:
        try:
            if address == "local":
                ray.init(num_cpus=jobs, include_dashboard=False, log_to_driver=False)
            else:
                ray.init(address=address, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as error:
            raise SweepError(f"cannot reach the Ray cluster at '{address}': "
                             f"{str(error).splitlines()[0] if str(error) else error}"
                             ) from None
    task = ray.remote(max_retries=WORKER_RETRIES, num_cpus=1)(_located_batch)
    size = max(1, min(RAY_BATCH, len(todo) // (4 * max(jobs, 1))))
    refs = {task.remote(todo[i:i + size], verify): i for i in range(0, len(todo), size)}
    try:
        while refs:
            finished, _ = ray.wait(list(refs), num_returns=1)
            for ref in finished:
                refs.pop(ref)
                try:
                    yield from ray.get(ref)
                except ray.exceptions.RayTaskError as error:
                    cause = error.as_instanceof_cause()
                    if isinstance(cause, BsirError):
                        raise SweepError(cause.message, cause.where) from None
                    raise
    except BaseException:
        for ref in refs:
            ray.cancel(ref, force=True)
        raise
    finally:
        if started:
            ray.shutdown()


RAY_BATCH = 8
"""Configurations per Ray task, at most: a task costs milliseconds to schedule and its
result to fetch, a small network's compilation some tens."""


def _located_batch(configs: Sequence[Configuration], verify: bool) -> list[dict]:
    return [_located(config, verify) for config in configs]


def _located(config: Configuration, verify: bool) -> dict:
    """:func:`run_configuration`, its errors naming the configuration."""
    try:
        return run_configuration(config, verify)
    except BsirError as error:
        raise SweepError(f"{_describe(config)}: {error.message}", error.where) from None


def _describe(config: Configuration) -> str:
    changed = {k: v for k, v in asdict(config).items()
               if k != "model" and v != getattr(DEFAULTS, k)}
    extra = "".join(f" {k}={v}" for k, v in changed.items())
    return f"{config.model} on {config.hardware}{extra}"


# --------------------------------------------------------------------------- fronts


def pareto(points: Sequence[tuple[float, float]]) -> list[bool]:
    """Which of the (cost, time) points no other point beats on both (no higher cost and
    no longer time, one of them strictly): the Pareto front, both lower better."""
    flags = [False] * len(points)
    order = sorted(range(len(points)), key=lambda i: points[i])
    best = float("inf")  # the least time at a lower cost
    for _, group in itertools.groupby(order, key=lambda i: points[i][0]):
        members = list(group)
        least = points[members[0]][1]  # sorted: the group's least time first
        for i in members:
            flags[i] = points[i][1] == least and least < best
        best = min(best, least)
    return flags


def front_data(rows: Sequence[dict]) -> dict:
    """What the fronts page and the PNG draw, from the rows of a sweep: per model, each
    configuration's cores, time and weight density with its place on the two fronts
    (time against cores; time against the weights kept), and the dense-to-sparse
    speed-up of each sparse configuration with the same settings dense."""
    from bsir.targets.aie2.hardware import resolve_array

    cores: dict[str, int] = {}
    points = []
    for row in rows:
        if row.get("failed") or row.get("total_s") is None:
            continue
        if row["hardware"] not in cores:
            cores[row["hardware"]] = resolve_array(row["hardware"], row["memtiles"]).cores
        points.append({key: row.get(key) for key in (
            "key", "model", "hardware", "memtiles", "sparsity", "sparsity_auto", "block",
            "criterion", "overrides", "cost_model", "total_s", "bound_s", "density")}
            | {"cores": cores[row["hardware"]]})
    settings = ("model", "hardware", "memtiles", "criterion", "block", "overrides",
                "cost_model")
    dense = {tuple(p[k] for k in settings[:3] + settings[6:]): p for p in points
             if p["sparsity"] == 0 and not p["overrides"]}
    for point in points:
        base = dense.get(tuple(point[k] for k in settings[:3] + settings[6:]))
        point["speedup"] = base["total_s"] / point["total_s"] \
            if base is not None and point["sparsity"] > 0 else None
    models = []
    for model in dict.fromkeys(p["model"] for p in points):
        mine = [p for p in points if p["model"] == model]
        for flag, p in zip(pareto([(p["cores"], p["total_s"]) for p in mine]), mine,
                           strict=True):
            p["front_cores"] = flag
        for flag, p in zip(pareto([(-(p["density"] or 1.0), p["total_s"]) for p in mine]),
                           mine, strict=True):
            p["front_density"] = flag
        models.append({"model": model, "points": mine})
    return {"models": models, "rows": len(rows),
            "failed": sum(1 for row in rows if row.get("failed"))}


def write_fronts_png(path: str, data: dict) -> bool:
    """The fronts as a PNG (matplotlib; False when it is not installed)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    models = data["models"]
    figure, axes = plt.subplots(len(models) or 1, 3, figsize=(15, 4 * max(len(models), 1)),
                                squeeze=False)
    for row_axes, entry in zip(axes, models, strict=False):
        points = entry["points"]
        # fewer cores are better (the front steps down after each point), more weights
        # kept are (it steps up before each)
        for ax, x_of, flag, label, where in (
                (row_axes[0], lambda p: p["cores"], "front_cores", "cores", "post"),
                (row_axes[1], lambda p: p["density"] or 1.0, "front_density",
                 "fraction of weights kept", "pre")):
            ax.scatter([x_of(p) for p in points], [p["total_s"] * 1e3 for p in points],
                       s=12, c=[p["sparsity"] for p in points], cmap="viridis")
            front = sorted((p for p in points if p[flag]), key=x_of)
            ax.step([x_of(p) for p in front], [p["total_s"] * 1e3 for p in front],
                    where=where, color="#e15759", label="Pareto front")
            ax.set_xlabel(label)
            ax.set_ylabel("estimated ms")
            ax.set_title(f"{entry['model']}: time against {label}")
            ax.legend()
        sparse = [p for p in points if p["speedup"] is not None]
        ax = row_axes[2]
        ax.scatter([p["cores"] for p in sparse], [p["speedup"] for p in sparse], s=12,
                   c=[p["sparsity"] for p in sparse], cmap="viridis")
        ax.axhline(1.0, color="#656d76", linewidth=0.8)
        ax.set_xlabel("cores")
        ax.set_ylabel("dense / sparse time")
        ax.set_title(f"{entry['model']}: sparse speed-up per grid")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    plt.close(figure)
    write_atomically(path, lambda stream: stream.write(buffer.getvalue()))
    return True


def write_fronts(folder: str, configs: Sequence[Configuration]) -> list[str]:
    """``fronts.html`` (the report) and ``fronts.png`` (with matplotlib) in ``folder``,
    from the rows of ``configs`` there; the files written."""
    from bsir.targets.aie2.report import write_fronts_report

    store = RowStore(folder)
    data = front_data([store.rows[c.key] for c in configs if c.key in store.rows])
    html, png = (os.path.join(folder, name) for name in FRONT_FILES)
    written = [html]
    write_fronts_report(html, data)
    if write_fronts_png(png, data):
        written.append(png)
    return written
