"""The weights store: the ``.npz`` beside a tg module, and deterministic initialisation.

A module names its weights file in the ``tg.weights`` attribute; a relative name is
resolved against the directory of the IR file. Weight files are only ever written
anew, never modified in place.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import partial

import numpy as np
from xdsl.dialects.builtin import ModuleOp, StringAttr

from bsir.arrays import NpzReader, open_npz
from bsir.diagnostics import BsirError, op_location
from bsir.dialects import tg
from bsir.dialects.tg import WEIGHTS_ATTR, WeightOp, tensor_shape
from bsir.dialects.tiling import PACKED_WEIGHTS_ATTR
from bsir.files import (
    FileSafetyError,
    check_derived,
    check_output,
    stamp_of,
    write_npz,
    write_text,
)
from bsir.ir import print_module


@dataclass(frozen=True)
class WeightSpec:
    """How to make one weight: its key, shape and initialiser.

    ``he``: He-normal, std sqrt(2 / fan_in) with fan_in = prod(shape[1:]);
    ``bias``: N(0, 0.01); ``bn_*``: a plausible trained batch norm (scale about 1,
    shift and mean about 0, variance in [0.5, 1.5]; a layer norm's weight and bias
    too); ``embedding``: N(0, 0.02) (a transformer's class token and positions);
    ``zeros``/``ones``: constants. ``scale`` multiplies the values (a query projection
    with attention's 1 / sqrt(head size) folded in).
    """

    key: str
    shape: tuple[int, ...]
    init: str
    scale: float = 1.0

    def make(self, seed: int) -> np.ndarray:
        """The values, a function of (seed, key) alone, so order does not matter."""
        values = self._drawn(seed)
        if self.scale != 1.0:
            values *= np.float32(self.scale)
        return values

    def _drawn(self, seed: int) -> np.ndarray:
        rng = np.random.default_rng([seed, zlib.crc32(self.key.encode())])
        shape = self.shape
        if self.init == "he":
            fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
            values = rng.standard_normal(shape, dtype=np.float32)
            values *= np.float32(np.sqrt(2.0 / fan_in))
            return values
        if self.init == "bias":
            return rng.standard_normal(shape, dtype=np.float32) * np.float32(0.01)
        if self.init == "bn_scale":
            return 1 + 0.1 * rng.standard_normal(shape, dtype=np.float32)
        if self.init in ("bn_shift", "bn_mean"):
            return 0.1 * rng.standard_normal(shape, dtype=np.float32)
        if self.init == "bn_var":
            return rng.uniform(0.5, 1.5, shape).astype(np.float32)
        if self.init == "embedding":
            return rng.standard_normal(shape, dtype=np.float32) * np.float32(0.02)
        if self.init == "zeros":
            return np.zeros(shape, np.float32)
        if self.init == "ones":
            return np.ones(shape, np.float32)
        raise ValueError(f"unknown initialiser {self.init!r}")


class LazyWeights(MutableMapping[str, np.ndarray]):
    """Weights made from their specs when first read, so that work that never looks at
    a weight's values (mapping a dense network) never draws them.

    A copy has its own record of what is made (arrays already made are shared, not
    copied); the values are those :func:`materialize` gives.
    """

    def __init__(self, specs: Iterable[WeightSpec], seed: int):
        self._pending: dict[str, tuple[tuple[int, ...], Callable[[], np.ndarray]]] = {
            spec.key: (spec.shape, partial(spec.make, seed)) for spec in specs}
        self._made: dict[str, np.ndarray] = {}

    def __getitem__(self, key: str) -> np.ndarray:
        if key not in self._made:
            self._made[key] = self._pending.pop(key)[1]()
        return self._made[key]

    def defer(self, key: str, shape: tuple[int, ...],
              make: Callable[[], np.ndarray]) -> None:
        """Set ``key`` to what ``make()`` returns, computed when first read."""
        self._made.pop(key, None)
        self._pending[key] = (tuple(shape), make)

    def maker(self, key: str) -> Callable[[], np.ndarray]:
        """A function that returns the value of ``key`` (made or not)."""
        if key in self._pending:
            return self._pending[key][1]
        value = self._made[key]
        return lambda: value

    def __setitem__(self, key: str, value: np.ndarray) -> None:
        self._pending.pop(key, None)
        self._made[key] = value

    def __delitem__(self, key: str) -> None:
        if self._pending.pop(key, None) is None:
            del self._made[key]

    def __contains__(self, key: object) -> bool:
        return key in self._made or key in self._pending

    def __iter__(self) -> Iterator[str]:
        yield from list(self._made)
        yield from list(self._pending)

    def __len__(self) -> int:
        return len(self._made) + len(self._pending)

    def shape_of(self, key: str) -> tuple[int, ...]:
        """The shape of a weight, without making it."""
        pending = self._pending.get(key)
        return pending[0] if pending is not None else self._made[key].shape

    def is_made(self, key: str) -> bool:
        return key in self._made

    def copy(self) -> LazyWeights:
        twin = LazyWeights((), 0)
        twin._pending, twin._made = dict(self._pending), dict(self._made)
        return twin

    def restricted(self, keys: Iterable[str]) -> LazyWeights:
        """A copy holding only ``keys``."""
        keep = set(keys)
        twin = LazyWeights((), 0)
        twin._pending = {k: v for k, v in self._pending.items() if k in keep}
        twin._made = {k: v for k, v in self._made.items() if k in keep}
        return twin


def copy_weights(arrays: Mapping[str, np.ndarray]) -> MutableMapping[str, np.ndarray]:
    """A shallow copy that keeps unmade :class:`LazyWeights` unmade."""
    return arrays.copy() if isinstance(arrays, LazyWeights) else dict(arrays)


def restrict_weights(arrays: Mapping[str, np.ndarray], keys: Iterable[str]
                     ) -> MutableMapping[str, np.ndarray]:
    """The weights of ``keys`` only, keeping unmade :class:`LazyWeights` unmade."""
    if isinstance(arrays, LazyWeights):
        return arrays.restricted(keys)
    keep = set(keys)
    return {k: v for k, v in arrays.items() if k in keep}


def materialize(specs: Iterable[WeightSpec], seed: int) -> dict[str, np.ndarray]:
    """Make every weight of ``specs`` deterministically from ``seed``.

    Each weight has its own generator, so they are drawn on threads (numpy releases the
    GIL while it fills an array): the same values, in about half the time on two cores.
    """
    specs = list(specs)
    workers = min(4, os.cpu_count() or 1)
    if workers == 1 or len(specs) < 2:
        return {spec.key: spec.make(seed) for spec in specs}
    # imported where used: a time estimate draws no weights (it loads logging too)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(workers) as pool:
        values = list(pool.map(lambda spec: spec.make(seed), specs))
    return {spec.key: value for spec, value in zip(specs, values, strict=True)}


_IR_FOLDER: ContextVar[str | None] = ContextVar("bsir_ir_folder", default=None)
_STAGED: ContextVar[dict[str, dict[str, np.ndarray]] | None] = ContextVar(
    "bsir_staged_weights", default=None)


@contextmanager
def staged_weights(initial: Mapping[str, Mapping[str, np.ndarray]] | None = None
                   ) -> Iterator[dict[str, dict[str, np.ndarray]]]:
    """While active, weight files that passes write stay in memory (path -> arrays).

    Passes load and write weights as usual; what they write lands in the yielded store
    and nothing touches the disk. :func:`place_weight_files` later writes the files the
    final module still names. Files not in the store are read from disk.
    """
    store = {path: copy_weights(arrays) for path, arrays in (initial or {}).items()}
    token = _STAGED.set(store)
    try:
        yield store
    finally:
        _STAGED.reset(token)


@contextmanager
def in_memory_weights(module: ModuleOp, arrays: Mapping[str, np.ndarray]
                      ) -> Iterator[dict[str, dict[str, np.ndarray]]]:
    """:func:`staged_weights` where ``arrays`` stand for the module's weights file."""
    with staged_weights({weights_file(module): arrays}) as store:
        yield store


def current_weights(module: ModuleOp) -> dict[str, np.ndarray]:
    """The arrays of the module's weights file inside :func:`staged_weights`."""
    store = _STAGED.get()
    path = weights_file(module)
    if store is None or path not in store:
        raise BsirError("the module's weights are not in memory")
    return store[path]


@contextmanager
def ir_location(ir_path: str | None) -> Iterator[None]:
    """While active, relative weight paths resolve against ``ir_path``'s folder.

    bsir-opt and the bsir command set it to the IR file they read, so passes that load
    or write weights find them however they are invoked. Outside it: the working folder.
    """
    with names_relative_to(os.path.dirname(os.path.abspath(ir_path)) if ir_path else None):
        yield


@contextmanager
def names_relative_to(folder: str | None) -> Iterator[None]:
    """While active, relative weight paths resolve against ``folder`` (None: the
    working folder)."""
    token = _IR_FOLDER.set(folder)
    try:
        yield
    finally:
        _IR_FOLDER.reset(token)


def ir_folder(ir_path: str | None = None) -> str:
    """The folder relative weight paths resolve against."""
    if ir_path:
        return os.path.dirname(os.path.abspath(ir_path))
    return _IR_FOLDER.get() or os.getcwd()


def file_attribute(module: ModuleOp, attr: str, ir_path: str | None = None) -> str | None:
    """The path a module's file attribute names, resolved against the IR's folder."""
    name = module.attributes.get(attr)
    if not isinstance(name, StringAttr):
        return None
    return os.path.join(ir_folder(ir_path), name.data)


def weights_file(module: ModuleOp, ir_path: str | None = None) -> str:
    """The path of the module's weights file, resolved against the IR file's folder."""
    path = file_attribute(module, WEIGHTS_ATTR, ir_path)
    if path is None:
        raise BsirError(f"the module names no weights file ({WEIGHTS_ATTR})")
    return path


def _stem(path: str) -> str:
    return path[: -len(".npz")] if path.endswith(".npz") else path


def save_derived_weights(module: ModuleOp, arrays: Mapping[str, np.ndarray], tag: str,
                         output: str = "", attr: str = WEIGHTS_ATTR) -> str:
    """Write a pass's new weights and point the module's ``attr`` at them.

    The file is ``output`` if given, else the current weights file's name with
    ``.{tag}`` before ``.npz``, beside it. The input file is never touched, and an
    existing file of that name is replaced only if bsir wrote it as the same thing.
    Inside :func:`staged_weights` the file stays in memory. Returns the path.
    """
    current = weights_file(module)
    path = os.path.join(ir_folder(), output) if output else f"{_stem(current)}.{tag}.npz"
    if os.path.abspath(path) == os.path.abspath(current):
        raise BsirError(f"refusing to overwrite the input weights {current}")
    store = _STAGED.get()
    if store is not None:
        store[path] = copy_weights(arrays)
    else:
        stamp = f"{tag} weights of {os.path.basename(current)}"
        if not output:
            check_derived(path, stamp)
        write_npz(path, arrays, stamp)
    module.attributes[attr] = StringAttr(os.path.relpath(path, ir_folder()))
    return path


def save_weights(path: str, arrays: Mapping[str, np.ndarray], stamp: str = "") -> None:
    """Write ``arrays`` to a new ``.npz`` (uncompressed: fast to write and to read)."""
    store = _STAGED.get()
    if store is not None:
        store[path] = copy_weights(arrays)
        return
    write_npz(path, arrays, stamp)


def content_digest(arrays: Mapping[str, np.ndarray]) -> str:
    """A short digest of names, dtypes, shapes and bytes: equal digests, equal files."""
    import hashlib  # only when writing weights

    digest = hashlib.sha256()
    for key in sorted(arrays):
        value = np.ascontiguousarray(arrays[key])
        digest.update(f"{key}\0{value.dtype.str}\0{value.shape}\0".encode())
        digest.update(value.data)
    return digest.hexdigest()[:12]


FILE_ATTRS = {WEIGHTS_ATTR: "", PACKED_WEIGHTS_ATTR: ".packed"}
"""Module attributes that name a file, and the suffix of that file beside an IR output."""


def place_weight_files(module: ModuleOp, store: Mapping[str, Mapping[str, np.ndarray]],
                       output: str | None, index: int = 0) -> list[str]:
    """Write the staged files ``module`` names and point it at them from ``output``.

    With an output IR file ``X.mlir`` the files become ``X.npz`` (and ``X.packed.npz``;
    ``X.N.npz`` for the N-th module of a split input), stamped as belonging to it. With
    the IR on standard output they go beside their staged name with a content digest
    (``t.sparse.1a2b3c4d5e6f.npz``), so that concurrent runs never collide. Names of
    files already on disk are rewritten relative to ``output``'s folder. Returns the
    paths written.
    """
    written = []
    folder = ir_folder(output) if output else ir_folder()
    for attr, suffix in FILE_ATTRS.items():
        path = file_attribute(module, attr)
        if path is None:
            continue
        if path in store:
            arrays = store[path]
            if output:
                stem = os.path.splitext(output)[0]
                target = f"{stem}{f'.{index}' if index else ''}{suffix}.npz"
                stamp = f"{suffix.lstrip('.') or 'weights'} of {os.path.basename(output)}"
                if os.path.abspath(target) == os.path.abspath(output):
                    raise FileSafetyError(
                        f"the IR output {output} would be its own weights file; "
                        "give it another extension (.mlir)")
            else:
                digest = content_digest(arrays)
                target, stamp = f"{_stem(path)}.{digest}.npz", f"content {digest}"
            check_derived(target, stamp)
            if not (os.path.exists(target) and stamp_of(target) == stamp and not output):
                write_npz(target, arrays, stamp)
            written.append(target)
            path = target
        module.attributes[attr] = StringAttr(os.path.relpath(path, folder))
    return written


def write_module(module: ModuleOp, path: str,
                 files: Mapping[str, Mapping[str, np.ndarray]]) -> list[str]:
    """Write ``module`` as text IR to ``path`` with the in-memory weight ``files`` it names
    beside it (:func:`place_weight_files`); returns the paths written. ``module``'s file
    attributes are rewritten to name the files from ``path``'s folder."""
    check_output(path)
    with staged_weights(files) as store:
        written = place_weight_files(module, store, os.path.abspath(path))
    write_text(path, print_module(module))
    return [path, *written]


_DTYPES = {tg.FLOAT: np.float32, tg.INT8: np.int8, tg.INT32: np.int32}
"""The numpy dtype a weight of each IR element type must have in its file."""


def load_weights(module: ModuleOp, ir_path: str | None = None) -> dict[str, np.ndarray]:
    """Load every weight the module references, checking keys, shapes, dtypes and values."""
    path = weights_file(module, ir_path)
    store = _STAGED.get()
    if store is not None and path in store:
        return _checked(module, store[path], path)
    archive = open_npz(path, "weights file")  # notes it as an input of the run
    with archive:
        return _checked(module, NpzReader(archive, path), path)


def _checked(module: ModuleOp, arrays: Mapping[str, np.ndarray], path: str,
             skip: set[str] = frozenset()) -> Mapping[str, np.ndarray]:
    """The arrays the module references, checked against the IR: present, of the IR's
    shape and dtype, and finite. Unmade :class:`LazyWeights` stay unmade (their specs
    give their shapes; drawn values are float32 and finite)."""
    if isinstance(arrays, LazyWeights):
        keys = []
        for op in module.walk():
            if isinstance(op, WeightOp) and not arrays.is_made(op.key.data):
                key = op.key.data
                if key not in arrays:
                    raise BsirError(f"weight '{key}' is not in {path}", op_location(op))
                if arrays.shape_of(key) != tensor_shape(op.result):
                    raise BsirError(f"weight '{key}' has shape {list(arrays.shape_of(key))} "
                                    f"in {path}, the IR says {list(tensor_shape(op.result))}",
                                    op_location(op))
                keys.append(key)
        made = {k: arrays[k] for k in arrays if arrays.is_made(k)}
        checked = _checked(module, made, path, skip=set(keys)) if made else {}
        lazy = arrays.restricted(keys)
        for key, value in checked.items():
            lazy[key] = value
        return lazy
    out: dict[str, np.ndarray] = {}
    for op in module.walk():
        if not isinstance(op, WeightOp) or op.key.data in out or op.key.data in skip:
            continue
        key = op.key.data
        if key not in arrays:
            raise BsirError(f"weight '{key}' is not in {path}", op_location(op))
        value = arrays[key]
        expected = tensor_shape(op.result)
        if value.shape != expected:
            raise BsirError(f"weight '{key}' has shape {list(value.shape)} in {path}, "
                            f"the IR says {list(expected)}", op_location(op))
        element = op.result.type.element_type  # type: ignore[attr-defined]
        dtype = _DTYPES.get(element)
        if dtype is not None and value.dtype != dtype:
            raise BsirError(f"weight '{key}' is {value.dtype} in {path}, the IR says "
                            f"{element} ({np.dtype(dtype).name})", op_location(op))
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            raise BsirError(f"weight '{key}' in {path} holds NaN or Inf", op_location(op))
        out[key] = value
    return out
