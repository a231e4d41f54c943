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
    [bandwidth]              # GB/s
    ddr_channel = 4.0        # per channel; two channels per memtile
    link = 4.0               # memtile <-> core, each link
    [compute]
    macs_per_cycle = 256
    clock_ghz = 1.0

Missing keys take the defaults below.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from dataclasses import asdict, dataclass, fields, replace

from xdsl.dialects.builtin import ModuleOp
from xdsl.utils.exceptions import PassFailedException

from bsir.diagnostics import BsirError
from bsir.dialects import tiling
from bsir.files import note_input

KIB = 1024


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
                     "locks_per_core", "locks_per_memtile"):
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

    @property
    def cores(self) -> int:
        return self.rows * self.cols

    @property
    def memtiles(self) -> int:
        return self.cols

    @property
    def activation_memtiles(self) -> tuple[int, ...]:
        """Memtiles that hold activations (all in shared mode, half in separate mode)."""
        if self.memtile_mode == "shared":
            return tuple(range(self.cols))
        return tuple(range(0, self.cols, 2))

    @property
    def weight_memtiles(self) -> tuple[int, ...]:
        if self.memtile_mode == "shared":
            return tuple(range(self.cols))
        return tuple(range(1, self.cols, 2))

    @property
    def scratch_bytes(self) -> int:
        return self.core_memory - 2 * self.input_buffer - 2 * self.output_buffer \
            - self.weight_buffer

    @property
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
        return replace(self, name=f"aie2-{rows}x{cols}", rows=rows, cols=cols)


PRESETS: dict[str, AIE2Array] = {
    **{f"aie2-{n}x{n}": AIE2Array(name=f"aie2-{n}x{n}", rows=n, cols=n) for n in range(1, 9)},
    # Ryzen AI's first NPU (Phoenix): 4 columns of 4 compute tiles.
    "ryzen-ai-phoenix": AIE2Array(name="ryzen-ai-phoenix", rows=4, cols=4),
    # Ryzen AI's second NPU (Strix, XDNA2): 8 columns of 4 compute tiles.
    "ryzen-ai-strix": AIE2Array(name="ryzen-ai-strix", rows=4, cols=8),
}

_GRID = re.compile(r"^\s*(\d+)\s*[xX]\s*(\d+)\s*$")


def parse_grid(text: str) -> tuple[int, int]:
    """``"4x5"`` -> (4 rows, 5 columns)."""
    match = _GRID.match(text)
    if not match:
        raise BsirError(f"a grid is ROWSxCOLS, like 4x4 or 4x5; got '{text}'")
    return int(match.group(1)), int(match.group(2))


def array_from_toml(path: str) -> AIE2Array:
    """Read a user's array description (see the module docstring)."""
    note_input(path)
    try:
        with open(path, "rb") as stream:
            data = tomllib.load(stream)
    except OSError as error:
        raise BsirError(f"cannot read hardware file {path}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise BsirError(f"{path}: {error}") from None
    sections = {
        "memtile": {"bytes": "memtile_bytes", "mode": "memtile_mode"},
        "core": {"memory": "core_memory", "input_buffer": "input_buffer",
                 "output_buffer": "output_buffer", "weight_buffer": "weight_buffer",
                 "locks": "locks_per_core"},
        "bandwidth": {"ddr_channel": "ddr_channel_gbps",
                      "ddr_channels_per_memtile": "ddr_channels_per_memtile",
                      "link": "link_gbps"},
        "compute": {"macs_per_cycle": "macs_per_cycle", "clock_ghz": "clock_ghz"},
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


@dataclass(frozen=True)
class CoreLayout:
    """Fixed addresses of a core's buffers: input ping/pong, output ping/pong, weights."""

    input: int
    output: int
    weights: int

    @staticmethod
    def of(array: AIE2Array) -> CoreLayout:
        return CoreLayout(0, 2 * array.input_buffer,
                          2 * array.input_buffer + 2 * array.output_buffer)


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
    """An array from a grid (``4x5``), a preset name, or a ``.toml`` file."""
    if spec.endswith(".toml"):
        array = array_from_toml(spec)
    elif spec in PRESETS:
        array = PRESETS[spec]
    else:
        rows, cols = parse_grid(spec)
        array = AIE2Array().with_grid(rows, cols)
    if memtiles is not None:
        array = replace(array, memtile_mode=memtiles)
    return array
