"""The AIE2 hardware abstraction (paper section 4.1, docs/design.md).

Every constant a pass or the time model uses comes from an :class:`AIE2Array`. Arrays
come from a grid (``4x4``, ``4x5``: rows x columns), a preset name, or a TOML file::

    name = "my-npu"
    rows = 4
    cols = 6
    [memtile]
    bytes = 524288
    mode = "shared"          # or "separate": half the memtiles hold weights
    [core]
    memory = 65536
    input_buffer = 8192      # one of two (ping, pong)
    output_buffer = 8192     # one of two
    weight_buffer = 16384
    [bandwidth]              # a number is GB/s; or a text: "4 GB/s", "4 GiB/s"
    ddr_channel = 4.0        # per channel; two channels per memtile
    link = 4.0               # memtile <-> core, each link
    [compute]
    macs_per_cycle = 256
    clock_ghz = 1.0
    [dma]                    # DMA channels, buffer descriptors and locks per tile
    memtile_mm2s = 6
    memtile_s2mm = 6
    core_mm2s = 2
    core_s2mm = 2
    shim_mm2s = 2
    shim_s2mm = 2
    memtile_bds = 48         # split evenly between even and odd channels
    core_bds = 16
    memtile_locks = 64

Missing keys take the defaults below. The DMA budgets are those of AMD's AIE-ML tiles
(AM020, the AIE-ML architecture manual; UG1603): a memtile has 6 MM2S and 6 S2MM
channels, 48 buffer descriptors and 64 locks, a compute tile 2 + 2 channels, 16
descriptors and 16 locks, a shim tile 2 + 2 channels.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import asdict, dataclass, fields, replace
from functools import cached_property

from xdsl.dialects.builtin import ModuleOp
from xdsl.utils.exceptions import PassFailedException

from bsir.diagnostics import BsirError
from bsir.dialects import tiling
from bsir.files import note_input
from bsir.frozen import hash_once, state_without_hash

KIB = 1024
GIB_PER_GB = 2**30 / 1e9
"""GB/s in one GiB/s."""

DMA_BUDGETS = ("memtile_mm2s", "memtile_s2mm", "core_mm2s", "core_s2mm", "shim_mm2s",
               "shim_s2mm", "memtile_bds", "core_bds")
"""The DMA budgets of an array's tiles (fields of :class:`AIE2Array`)."""


class InvalidArrayError(BsirError):
    """An array description that no hardware has; ``problems`` are (field, text), the
    text naming the field as ``{field}`` (a TOML file names it by its own key)."""

    def __init__(self, name: str, problems: list[tuple[str, str]],
                 names: dict[str, str] | None = None):
        self.problems = problems
        text = "; ".join(problem.format(field=(names or {}).get(item, item))
                         for item, problem in problems)
        super().__init__(f"invalid AIE2 array '{name}': {text}")


@dataclass(frozen=True)
class AIE2Array:
    """An R x C array of AIE2 cores with one memtile per column."""

    name: str = "aie2-4x4"
    rows: int = 4
    cols: int = 4
    memtile_bytes: int = 512 * KIB
    memtile_mode: str = "shared"
    core_memory: int = 64 * KIB
    input_buffer: int = 8 * KIB
    output_buffer: int = 8 * KIB
    weight_buffer: int = 16 * KIB
    ddr_channel_gbps: float = 4.0
    ddr_channels_per_memtile: int = 2
    link_gbps: float = 4.0
    macs_per_cycle: int = 256
    clock_ghz: float = 1.0
    locks_per_core: int = 16
    locks_per_memtile: int = 64
    memtile_mm2s: int = 6
    memtile_s2mm: int = 6
    core_mm2s: int = 2
    core_s2mm: int = 2
    shim_mm2s: int = 2
    shim_s2mm: int = 2
    memtile_bds: int = 48
    core_bds: int = 16

    # a key of most of the mapper's memo tables
    __hash__ = hash_once
    __getstate__ = state_without_hash

    def __post_init__(self) -> None:
        problems: list[tuple[str, str]] = []
        if not (1 <= self.rows <= 8 and 1 <= self.cols <= 8):
            problems.append(("grid", f"a grid is 1..8 x 1..8 cores, got {self.rows}x{self.cols}"))
        if self.memtile_mode not in ("shared", "separate"):
            problems.append(("memtile_mode",
                             f"memtile mode is shared or separate, got '{self.memtile_mode}'"))
        if self.memtile_mode == "separate" and self.cols < 2:
            problems.append(("memtile_mode", "separate memtiles need at least 2 columns"))
        for name in ("memtile_bytes", "core_memory", "input_buffer", "output_buffer",
                     "weight_buffer", "macs_per_cycle", "ddr_channels_per_memtile",
                     "locks_per_core", "locks_per_memtile", *DMA_BUDGETS):
            if not getattr(self, name) >= 1:
                problems.append((name, "{field} must be a positive integer, got "
                                       f"{getattr(self, name)}"))
        for name in ("ddr_channel_gbps", "link_gbps", "clock_ghz"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                problems.append((name, f"{{field}} must be a positive finite number, got {value}"))
        buffers = 2 * self.input_buffer + 2 * self.output_buffer + self.weight_buffer
        if buffers > self.core_memory:
            problems.append(("core_memory", f"core buffers take {buffers} bytes, more than the "
                                            f"{self.core_memory} of a core"))
        if problems:
            raise InvalidArrayError(self.name, problems)

    @cached_property
    def cores(self) -> int:
        return self.rows * self.cols

    @property
    def memtiles(self) -> int:
        return self.cols

    @cached_property
    def activation_memtiles(self) -> tuple[int, ...]:
        """Memtiles that hold activations (all in shared mode, half in separate mode)."""
        if self.memtile_mode == "shared":
            return tuple(range(self.cols))
        return tuple(range(0, self.cols, 2))

    @cached_property
    def columns_per_memtile(self) -> int:
        """The most core columns one activation memtile serves (:meth:`column_memtile`
        deals the columns out in even runs)."""
        return math.ceil(self.cols / len(self.activation_memtiles))

    def column_memtile(self, col: int) -> int:
        """Index among :attr:`activation_memtiles` of the memtile serving core column
        ``col`` (its streams, the activations of its columns)."""
        tiles = len(self.activation_memtiles)
        return min(col * tiles // self.cols, tiles - 1)

    @cached_property
    def weight_memtiles(self) -> tuple[int, ...]:
        if self.memtile_mode == "shared":
            return tuple(range(self.cols))
        return tuple(range(1, self.cols, 2))

    @cached_property
    def scratch_bytes(self) -> int:
        return self.core_memory - 2 * self.input_buffer - 2 * self.output_buffer \
            - self.weight_buffer

    @cached_property
    def macs_per_second(self) -> float:
        """One core's peak rate."""
        return self.macs_per_cycle * self.clock_ghz * 1e9

    def ddr_load_bandwidth(self) -> float:
        """Bytes/s of one DDR->memtile load (LOAD or LOADW) into one memtile."""
        channels = 1 if self.memtile_mode == "shared" else self.ddr_channels_per_memtile
        return channels * self.ddr_channel_gbps * 1e9

    def ddr_store_bandwidth(self) -> float:
        """Bytes/s of one memtile->DDR write (WRITE): both channels."""
        return self.ddr_channels_per_memtile * self.ddr_channel_gbps * 1e9

    def link_bandwidth(self) -> float:
        """Bytes/s of one memtile<->core link."""
        return self.link_gbps * 1e9

    def with_grid(self, rows: int, cols: int) -> AIE2Array:
        """The same tiles on another grid (named ``aie2-RxC``, or ``NAME-RxC`` for a
        named array other than a square default one)."""
        name = f"aie2-{rows}x{cols}" if self.name.startswith("aie2-") \
            else f"{self.name}-{rows}x{cols}"
        return replace(self, name=name, rows=rows, cols=cols)


PRESETS: dict[str, AIE2Array] = {
    **{f"aie2-{n}x{n}": AIE2Array(name=f"aie2-{n}x{n}", rows=n, cols=n) for n in range(1, 9)},
    # Ryzen AI's first NPU (Phoenix): 4 columns of 4 compute tiles; mlir-aie's npu1.
    "ryzen-ai-phoenix": AIE2Array(name="ryzen-ai-phoenix", rows=4, cols=4),
    "npu1": AIE2Array(name="npu1", rows=4, cols=4),
    # Ryzen AI's second NPU (Strix, XDNA2): 8 columns of 4 compute tiles; mlir-aie's npu2.
    "ryzen-ai-strix": AIE2Array(name="ryzen-ai-strix", rows=4, cols=8),
    "npu2": AIE2Array(name="npu2", rows=4, cols=8),
    # The paper's estimator (bsir's --cost-model paper): its bandwidths are GiB/s.
    "paper": AIE2Array(name="paper", rows=4, cols=4, ddr_channel_gbps=4 * GIB_PER_GB,
                       link_gbps=4 * GIB_PER_GB),
}

_GRID = re.compile(r"^\s*(\d+)\s*[xX]\s*(\d+)\s*$")
_NAMED_GRID = re.compile(r"^(.+)-(\d+)[xX](\d+)$")


def parse_grid(text: str) -> tuple[int, int]:
    """``"4x5"`` -> (4 rows, 5 columns)."""
    match = _GRID.match(text)
    if not match:
        raise BsirError(f"a grid is ROWSxCOLS, like 4x4 or 4x5; got '{text}'")
    return int(match.group(1)), int(match.group(2))


def array_from_toml(path: str) -> AIE2Array:
    """Read a user's array description (see the module docstring)."""
    import tomllib  # only for a hardware file

    note_input(path)
    try:
        with open(path, "rb") as stream:
            data = tomllib.load(stream)
    except OSError as error:
        raise BsirError(f"cannot read hardware file {path}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise BsirError(f"{path}: {error}") from None
    sections = {
        "memtile": {"bytes": "memtile_bytes", "mode": "memtile_mode",
                    "locks": "locks_per_memtile"},
        "core": {"memory": "core_memory", "input_buffer": "input_buffer",
                 "output_buffer": "output_buffer", "weight_buffer": "weight_buffer",
                 "locks": "locks_per_core"},
        "bandwidth": {"ddr_channel": "ddr_channel_gbps",
                      "ddr_channels_per_memtile": "ddr_channels_per_memtile",
                      "link": "link_gbps"},
        "compute": {"macs_per_cycle": "macs_per_cycle", "clock_ghz": "clock_ghz"},
        "dma": {**{name: name for name in DMA_BUDGETS}, "memtile_locks": "locks_per_memtile"},
    }
    known = {f.name: f.type for f in fields(AIE2Array)}
    values: dict[str, object] = {}
    for key, value in data.items():
        if key in sections:
            if not isinstance(value, dict):
                raise BsirError(f"{path}: [{key}] must be a table")
            for sub, sub_value in value.items():
                if sub not in sections[key]:
                    raise BsirError(f"{path}: unknown key '{key}.{sub}'")
                if key == "bandwidth" and isinstance(sub_value, str):
                    sub_value = gb_per_second(sub_value, f"{path}: bandwidth.{sub}")
                values[sections[key][sub]] = sub_value
        elif key in ("name", "rows", "cols"):
            values[key] = value
        else:
            raise BsirError(f"{path}: unknown key '{key}'")
    for key, value in values.items():
        expected = known[key]
        ok = (isinstance(value, str) if expected == "str"
              else isinstance(value, int | float) and not isinstance(value, bool))
        if not ok or (expected == "int" and not isinstance(value, int)):
            raise BsirError(f"{path}: '{key}' must be {expected}, got {value!r}")
    values.setdefault("name", os.path.splitext(os.path.basename(path))[0])
    try:
        return AIE2Array(**values)  # type: ignore[arg-type]
    except InvalidArrayError as error:
        names = {field: f"{section}.{key}" for section, keys in sections.items()
                 for key, field in keys.items()}
        raise InvalidArrayError(str(values["name"]), error.problems, names) from None


_BANDWIDTH = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(GB/s|GiB/s)\s*$")


def gb_per_second(text: str, where: str) -> float:
    """``"4 GB/s"`` -> 4.0; ``"4 GiB/s"`` -> 4.294967296 (GB/s, 10^9 bytes a second)."""
    match = _BANDWIDTH.match(text)
    if not match:
        raise BsirError(f"{where} must be a number of GB/s or a text like \"4 GB/s\" or "
                        f"\"4 GiB/s\", got {text!r}")
    value = float(match.group(1))
    return value * GIB_PER_GB if match.group(2) == "GiB/s" else value


@dataclass(frozen=True)
class CoreLayout:
    """Fixed addresses of a core's buffers: input ping/pong, output ping/pong, weights,
    then the scratch memory.

    A layer that keeps its partial sums in the core between input-channel chunks
    (weight-stationary, ``cin_split = 3``) lays them out in *slots*, one tile's int32
    sums each, in the output buffers and then the scratch (its last chunk writes each
    tile's int8 result over the start of its own slot, and WRITEFM moves it from there,
    so the output ping/pong is free for them)."""

    input: int
    output: int
    weights: int
    scratch: int
    output_bytes: int    # both output buffers
    scratch_bytes: int

    @staticmethod
    def of(array: AIE2Array) -> CoreLayout:
        weights = 2 * array.input_buffer + 2 * array.output_buffer
        return CoreLayout(0, 2 * array.input_buffer, weights, weights + array.weight_buffer,
                          2 * array.output_buffer, array.scratch_bytes)

    @property
    def sum_regions(self) -> tuple[tuple[int, int], ...]:
        """(address, bytes) of the regions partial-sum slots fill, in order."""
        return (self.output, self.output_bytes), (self.scratch, self.scratch_bytes)

    def sum_slots(self, slot_bytes: int) -> int:
        """How many slots of ``slot_bytes`` the regions hold (none straddles two)."""
        if not slot_bytes:
            return 0
        (_, first), (_, second) = self.sum_regions
        return first // slot_bytes + second // slot_bytes

    def sum_slot(self, index: int, slot_bytes: int) -> int | None:
        """The offset of slot ``index`` from the first slot (None past the last one)."""
        for start, size in self.sum_regions:
            count = size // slot_bytes
            if index < count:
                return start + index * slot_bytes - self.output
            index -= count
        return None


def array_to_attr(array: AIE2Array) -> tiling.HardwareAttr:
    """The ``#tiling.array`` a module records: every field of ``array``, exactly."""
    values = asdict(array)
    values["array_name"] = values.pop("name")
    return tiling.HardwareAttr.make(**values)


def array_from_attr(attr: tiling.HardwareAttr) -> AIE2Array:
    """The inverse of :func:`array_to_attr`."""
    values = attr.as_dict()
    values["name"] = values.pop("array_name")
    return AIE2Array(**values)  # type: ignore[arg-type]


def module_array(module: ModuleOp) -> AIE2Array:
    """The array a mapped module was mapped onto (its ``#tiling.array``)."""
    attr = module.attributes.get(tiling.ARRAY_ATTR)
    if not isinstance(attr, tiling.HardwareAttr):
        raise PassFailedException("the module is not mapped: run convert-tg-to-tiling first")
    return array_from_attr(attr)


def resolve_array(spec: str = "4x4", memtiles: str | None = None) -> AIE2Array:
    """An array from a grid (``4x5``), a preset name, a preset on another grid
    (``paper-8x8``, ``npu2-4x6``), or a ``.toml`` file."""
    named = _NAMED_GRID.match(spec)
    if spec.endswith(".toml"):
        array = array_from_toml(spec)
    elif spec in PRESETS:
        array = PRESETS[spec]
    elif named and (named.group(1) in PRESETS or named.group(1) == "aie2"):
        base = PRESETS.get(named.group(1), AIE2Array())
        array = base.with_grid(int(named.group(2)), int(named.group(3)))
    else:
        rows, cols = parse_grid(spec)
        array = AIE2Array().with_grid(rows, cols)
    if memtiles is not None:
        array = replace(array, memtile_mode=memtiles)
    return array
