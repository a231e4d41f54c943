"""File safety: every file bsir writes goes through here.

The rules (the README's "Errors and files" section says them to users):

- A run reads its inputs before it writes anything, and notes each one
  (:func:`note_input`); an output that resolves to an input (same path or same inode)
  is refused, so ``bsir-opt t.mlir -o t.mlir`` or ``bsir compile t.mlir --json t.npz``
  never destroys what they read.
- Every output is written to a unique temporary file in the target's folder, flushed,
  fsynced and renamed over the target (:func:`write_atomically`): a failed or
  concurrent run never leaves a partial or mixed file, and temporary names never
  appear in messages. Special files (``/dev/null``, ``/dev/stdout``, a FIFO) are
  written in place, and a write error on them (``/dev/full``) is an error.
- A file a user named (``-o``, ``--json``, ...) may be replaced. A file bsir derives
  (the weights beside an IR output) is replaced only when it carries bsir's stamp for
  the same purpose (:func:`check_derived`), or with ``--force``: a user's own file
  that happens to have the derived name is never replaced silently.

Outside :func:`file_run` (the Python API) writes are still atomic and stamped, and
derived files still protected; only the input bookkeeping is off.
"""

from __future__ import annotations

# json, tempfile and zipfile are imported where they are used: a command that writes
# nothing (a time estimate) never loads them.
import os
import stat
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np

from bsir.diagnostics import BsirError


class FileSafetyError(BsirError):
    """A write that would destroy an input or replace a file bsir did not make."""


@dataclass
class FileRun:
    """What one command has read and written so far."""

    force: bool = False
    inputs: dict[tuple[int, int], str] = field(default_factory=dict)
    input_paths: set[str] = field(default_factory=set)
    written: set[str] = field(default_factory=set)


_RUN: ContextVar[FileRun | None] = ContextVar("bsir_file_run", default=None)


@contextmanager
def file_run(force: bool = False) -> Iterator[FileRun]:
    """One command's bookkeeping of inputs and outputs (the CLI tools open one)."""
    run = FileRun(force=force)
    token = _RUN.set(run)
    try:
        yield run
    finally:
        _RUN.reset(token)


def note_input(path: str) -> None:
    """Record ``path`` as an input of the current run: outputs may not replace it."""
    run = _RUN.get()
    if run is None or path == "-":
        return
    run.input_paths.add(os.path.realpath(path))
    try:
        info = os.stat(path)
    except OSError:
        return
    if stat.S_ISREG(info.st_mode):
        run.inputs[(info.st_dev, info.st_ino)] = path


def check_output(path: str) -> None:
    """Refuse an output that is a folder or one of the run's inputs."""
    if path == "-":
        return
    if os.path.isdir(path):
        raise FileSafetyError(f"cannot write {path}: it is a folder")
    run = _RUN.get()
    if run is None:
        return
    same = os.path.realpath(path) in run.input_paths
    if not same:
        try:
            info = os.stat(path)
        except OSError:
            info = None
        same = info is not None and (info.st_dev, info.st_ino) in run.inputs
    if same:
        raise FileSafetyError(f"refusing to write {path}: it is an input of this run")


def _is_special(path: str) -> bool:
    try:
        return not stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def _new_file_mode(path: str) -> int:
    """Keep the mode of the file being replaced; a new file gets 0666 less the umask."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def write_atomically(path: str, write: Callable[[BinaryIO], None]) -> None:
    """Write ``path`` through ``write(stream)``: temporary file beside it, fsync, rename."""
    check_output(path)
    try:
        if _is_special(path):
            with open(path, "wb") as stream:
                write(stream)
                stream.flush()
        else:
            _replace(path, write)
    except OSError as error:
        raise BsirError(f"cannot write {path}: {error.strerror or error}") from None
    run = _RUN.get()
    if run is not None:
        run.written.add(os.path.realpath(path))


def _replace(path: str, write: Callable[[BinaryIO], None]) -> None:
    import tempfile

    folder = os.path.dirname(os.path.abspath(path))
    mode = _new_file_mode(path)
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.",
                                     suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(temporary)
        raise


def write_text(path: str, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    write_atomically(path, lambda stream: stream.write(text.encode("utf-8")))


def write_json(path: str, data: object) -> None:
    """Write ``data`` as indented JSON to ``path`` atomically."""
    import json

    write_text(path, json.dumps(data, indent=1) + "\n")


def write_npy(path: str, array: np.ndarray) -> None:
    """Write one array as ``.npy`` to exactly ``path`` (numpy would add ``.npy``)."""
    write_atomically(path, lambda stream: np.lib.format.write_array(
        stream, np.asanyarray(array), allow_pickle=False))


def write_npz(path: str, arrays: Mapping[str, np.ndarray], stamp: str = "") -> None:
    """Write an uncompressed ``.npz`` (what :func:`numpy.load` reads) with bsir's stamp.

    The stamp is the archive comment, invisible to ``numpy.load``: it says what bsir
    wrote the file for (see :func:`check_derived`).
    """

    import zipfile

    def write(stream: BinaryIO) -> None:
        with zipfile.ZipFile(stream, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
            for key, value in arrays.items():
                with archive.open(f"{key}.npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, np.asanyarray(value),
                                              allow_pickle=False)
            if stamp:
                archive.comment = f"{STAMP_PREFIX}{stamp}".encode()

    write_atomically(path, write)


STAMP_PREFIX = "bsir: "


def stamp_of(path: str) -> str | None:
    """What bsir wrote the ``.npz`` at ``path`` for, or None (not bsir's, or unreadable)."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            comment = archive.comment.decode("utf-8", "replace")
    except (OSError, zipfile.BadZipFile):
        return None
    return comment[len(STAMP_PREFIX):] if comment.startswith(STAMP_PREFIX) else None


def check_derived(path: str, stamp: str) -> None:
    """Refuse to replace ``path`` unless bsir wrote it for ``stamp`` (or ``--force``)."""
    check_output(path)
    if not os.path.lexists(path):
        return
    run = _RUN.get()
    if run is not None and (run.force or os.path.realpath(path) in run.written):
        return
    if stamp_of(path) == stamp:
        return
    raise FileSafetyError(
        f"refusing to replace {path}: it exists and bsir did not write it as the {stamp}; "
        "move it away, choose another output name, or pass --force"
    )
