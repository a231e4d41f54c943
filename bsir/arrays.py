"""Reading the arrays users hand bsir: ``.npy`` inputs and ``.npz`` archives.

Every problem is a one-line :class:`~bsir.diagnostics.BsirError` naming the file: not
an array file, pickled objects, complex or non-numeric values, NaN or Inf.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np

from bsir.diagnostics import BsirError
from bsir.files import note_input

NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")


def _magic(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as stream:
            return stream.read(6)
    except OSError as error:
        raise BsirError(f"cannot read {what} {path}: {error.strerror}") from None


def _problem(error: Exception) -> str:
    if isinstance(error, ValueError):  # numpy refuses object arrays and bad headers so
        return "not a plain numeric array (pickled Python objects or a damaged header)"
    return " ".join(str(error).split()) or type(error).__name__


class NpzReader(Mapping[str, np.ndarray]):
    """The arrays of an open ``.npz``, read on access, with one-line errors."""

    def __init__(self, archive, path: str):
        self._archive, self._path = archive, path

    def __getitem__(self, key: str) -> np.ndarray:
        import zipfile  # imported where used: a time estimate reads no archive

        try:
            return self._archive[key]
        except KeyError:
            raise
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
            raise BsirError(f"cannot read '{key}' from {self._path}: "
                            f"{_problem(error)}") from None

    def __contains__(self, key: object) -> bool:
        return key in self._archive.files

    def __iter__(self) -> Iterator[str]:
        return iter(self._archive.files)

    def __len__(self) -> int:
        return len(self._archive.files)


def open_npz(path: str, what: str):
    """``numpy.load`` of an ``.npz`` archive, refusing anything else in one line."""
    note_input(path)
    if _magic(path, what)[:4] not in ZIP_MAGICS:
        raise BsirError(f"{what} {path} is not an .npz archive")
    import zipfile

    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise BsirError(f"cannot read {what} {path}: {_problem(error)}") from None


def read_input_array(path: str, what: str = "input") -> np.ndarray:
    """A float32 array from an ``.npy`` file of real numbers, all finite.

    Integer and float files of any width are converted to float32 (the graph's input
    type); complex, boolean, string and object arrays are refused.
    """
    note_input(path)
    magic = _magic(path, what)
    if magic[:4] in ZIP_MAGICS:
        raise BsirError(f"{what} {path} is an .npz archive; give one array as an .npy file "
                        "(numpy.save)")
    if magic != NPY_MAGIC:
        raise BsirError(f"{what} {path} is not an .npy file")
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        raise BsirError(f"cannot read {what} {path}: {_problem(error)}") from None
    if array.dtype.kind not in "iuf":
        raise BsirError(f"{what} {path} holds {array.dtype} values; a real number array "
                        "(float or int) is needed")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise BsirError(f"{what} {path} holds NaN or Inf")
    return array.astype(np.float32, copy=False)
