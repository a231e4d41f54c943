"""The weights store: the ``.npz`` beside a tg module, and deterministic initialisation.

A module names its weights file in the ``tg.weights`` attribute; a relative name is
resolved against the directory of the IR file. Weight files are only ever written
anew, never modified in place.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import numpy as np
from xdsl.dialects.builtin import ModuleOp, StringAttr

from bsir.diagnostics import BsirError, op_location
from bsir.dialects.tg import WEIGHTS_ATTR, WeightOp, tensor_shape


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
            std = np.float32(np.sqrt(2.0 / fan_in))
            return rng.standard_normal(shape, dtype=np.float32) * std
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
    """Make every weight of ``specs`` deterministically from ``seed``."""
    return {spec.key: spec.make(seed) for spec in specs}


_IR_FOLDER: ContextVar[str | None] = ContextVar("bsir_ir_folder", default=None)
_IN_MEMORY: ContextVar[dict[str, dict[str, np.ndarray]] | None] = ContextVar(
    "bsir_in_memory_weights", default=None)


@contextmanager
def in_memory_weights(module: ModuleOp, arrays: Mapping[str, np.ndarray]
                      ) -> Iterator[dict[str, dict[str, np.ndarray]]]:
    """While active, weight files live in a dict instead of on disk.

    ``arrays`` stand for the module's current weights file; passes load and write
    weights as usual and nothing touches the disk. Yields the path -> arrays store.
    """
    store = {weights_file(module): dict(arrays)}
    token = _IN_MEMORY.set(store)
    try:
        yield store
    finally:
        _IN_MEMORY.reset(token)


def current_weights(module: ModuleOp) -> dict[str, np.ndarray]:
    """The arrays of the module's weights file inside :func:`in_memory_weights`."""
    store = _IN_MEMORY.get()
    if store is None:
        raise BsirError("no in-memory weights are active")
    return store[weights_file(module)]


@contextmanager
def ir_location(ir_path: str | None) -> Iterator[None]:
    """While active, relative weight paths resolve against ``ir_path``'s folder.

    bsir-opt and the bsir command set it to the IR file they read, so passes that load
    or write weights find them however they are invoked. Outside it: the working folder.
    """
    folder = os.path.dirname(os.path.abspath(ir_path)) if ir_path else None
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


def weights_file(module: ModuleOp, ir_path: str | None = None) -> str:
    """The path of the module's weights file, resolved against the IR file's folder."""
    name = module.attributes.get(WEIGHTS_ATTR)
    if not isinstance(name, StringAttr):
        raise BsirError(f"the module names no weights file ({WEIGHTS_ATTR})")
    return os.path.join(ir_folder(ir_path), name.data)


def save_derived_weights(module: ModuleOp, arrays: Mapping[str, np.ndarray], tag: str,
                         output: str = "") -> str:
    """Write a pass's new weights and point the module at them; returns the path.

    The file is ``output`` if given, else the current weights file's name with
    ``.{tag}`` before ``.npz``, beside it. The input file is never touched.
    """
    current = weights_file(module)
    if output:
        path = os.path.join(ir_folder(), output)
    else:
        stem = current[: -len(".npz")] if current.endswith(".npz") else current
        path = f"{stem}.{tag}.npz"
    if os.path.abspath(path) == os.path.abspath(current):
        raise BsirError(f"refusing to overwrite the input weights {current}")
    save_weights(path, arrays)
    module.attributes[WEIGHTS_ATTR] = StringAttr(os.path.relpath(path, ir_folder()))
    return path


def save_weights(path: str, arrays: Mapping[str, np.ndarray]) -> None:
    """Write ``arrays`` to a new ``.npz`` (uncompressed: fast to write and to read)."""
    store = _IN_MEMORY.get()
    if store is not None:
        store[path] = dict(arrays)
        return
    tmp = f"{path}.tmp.npz"
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def load_weights(module: ModuleOp, ir_path: str | None = None) -> dict[str, np.ndarray]:
    """Load every weight the module references, checking keys, shapes and dtypes."""
    path = weights_file(module, ir_path)
    store = _IN_MEMORY.get()
    if store is not None and path in store:
        return _checked(module, store[path], path)
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise BsirError(f"cannot read weights file {path}: {error}") from None
    with archive:
        arrays: dict[str, np.ndarray] = {}
        for op in module.walk():
            if not isinstance(op, WeightOp) or op.key.data in arrays:
                continue
            key = op.key.data
            if key not in archive.files:
                raise BsirError(f"weight '{key}' is not in {path}", op_location(op))
            value = archive[key]
            expected = tensor_shape(op.result)
            if value.shape != expected:
                raise BsirError(
                    f"weight '{key}' has shape {list(value.shape)} in {path}, "
                    f"the IR says {list(expected)}",
                    op_location(op),
                )
            arrays[key] = value
    return arrays


def _checked(module: ModuleOp, arrays: Mapping[str, np.ndarray], path: str
             ) -> dict[str, np.ndarray]:
    """The arrays the module references, checked like a file's."""
    out: dict[str, np.ndarray] = {}
    for op in module.walk():
        if isinstance(op, WeightOp) and op.key.data not in out:
            key = op.key.data
            if key not in arrays:
                raise BsirError(f"weight '{key}' is not in {path}", op_location(op))
            if arrays[key].shape != tensor_shape(op.result):
                raise BsirError(f"weight '{key}' has shape {list(arrays[key].shape)} in {path}, "
                                f"the IR says {list(tensor_shape(op.result))}", op_location(op))
            out[key] = arrays[key]
    return out
