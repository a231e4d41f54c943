"""The weights store: the ``.npz`` beside a tg module, and deterministic initialisation.

A module names its weights file in the ``tg.weights`` attribute; a relative name is
resolved against the directory of the IR file. Weight files are only ever written
anew, never modified in place.
"""

from __future__ import annotations

import hashlib
import os
import zlib
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import numpy as np
from xdsl.dialects.builtin import ModuleOp, StringAttr

from bsir.arrays import NpzReader, open_npz
from bsir.diagnostics import BsirError, op_location
from bsir.dialects import tg
from bsir.dialects.tg import WEIGHTS_ATTR, WeightOp, tensor_shape
from bsir.dialects.tiling import PACKED_WEIGHTS_ATTR
from bsir.files import FileSafetyError, check_derived, note_input, stamp_of, write_npz


@dataclass(frozen=True)
class WeightSpec:
    """How to make one weight: its key, shape and initialiser.

    ``he``: He-normal, std sqrt(2 / fan_in) with fan_in = prod(shape[1:]);
    ``bias``: N(0, 0.01); ``bn_*``: a plausible trained batch norm (scale about 1,
    shift and mean about 0, variance in [0.5, 1.5]); ``zeros``/``ones``: constants.
    """

    key: str
    shape: tuple[int, ...]
    init: str

    def make(self, seed: int) -> np.ndarray:
        """The values, a function of (seed, key) alone, so order does not matter."""
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
        if self.init == "zeros":
            return np.zeros(shape, np.float32)
        if self.init == "ones":
            return np.ones(shape, np.float32)
        raise ValueError(f"unknown initialiser {self.init!r}")


def materialize(specs: Iterable[WeightSpec], seed: int) -> dict[str, np.ndarray]:
    """Make every weight of ``specs`` deterministically from ``seed``.

    Each weight has its own generator, so they are drawn on threads (numpy releases the
    GIL while it fills an array): the same values, in about half the time on two cores.
    """
    specs = list(specs)
    workers = min(4, os.cpu_count() or 1)
    if workers == 1 or len(specs) < 2:
        return {spec.key: spec.make(seed) for spec in specs}
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
    store = {path: dict(arrays) for path, arrays in (initial or {}).items()}
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
        store[path] = dict(arrays)
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
        store[path] = dict(arrays)
        return
    write_npz(path, arrays, stamp)


def content_digest(arrays: Mapping[str, np.ndarray]) -> str:
    """A short digest of names, dtypes, shapes and bytes: equal digests, equal files."""
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


_DTYPES = {tg.FLOAT: np.float32, tg.INT8: np.int8, tg.INT32: np.int32}
"""The numpy dtype a weight of each IR element type must have in its file."""


def load_weights(module: ModuleOp, ir_path: str | None = None) -> dict[str, np.ndarray]:
    """Load every weight the module references, checking keys, shapes, dtypes and values."""
    path = weights_file(module, ir_path)
    store = _STAGED.get()
    if store is not None and path in store:
        return _checked(module, store[path], path)
    note_input(path)
    archive = open_npz(path, "weights file")
    with archive:
        return _checked(module, NpzReader(archive, path), path)


def _checked(module: ModuleOp, arrays: Mapping[str, np.ndarray], path: str
             ) -> dict[str, np.ndarray]:
    """The arrays the module references, checked against the IR: present, of the IR's
    shape and dtype, and finite."""
    out: dict[str, np.ndarray] = {}
    for op in module.walk():
        if not isinstance(op, WeightOp) or op.key.data in out:
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
