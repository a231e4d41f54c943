"""One-line, located diagnostics: the only way bsir reports bad input to a user."""

from __future__ import annotations

from xdsl.dialects.builtin import FileLineColLoc
from xdsl.ir import Attribute, Operation
from xdsl.utils.exceptions import ParseError


class BsirError(Exception):
    """Bad input, reported as ``where: error: message`` on one line."""

    def __init__(self, message: str, where: str | None = None):
        super().__init__(message)
        self.message = " ".join(message.split())
        self.where = where

    def __str__(self) -> str:
        prefix = f"{self.where}: " if self.where else ""
        return f"{prefix}error: {self.message}"


def location_text(location: Attribute) -> str | None:
    """``file:line:col`` of an op location, or None when the location is unknown."""
    if isinstance(location, FileLineColLoc):
        return f"{location.filename.data}:{location.line.value.data}:{location.column.value.data}"
    return None


def op_location(op: Operation) -> str | None:
    """The source location of ``op``, or of its closest located ancestor."""
    current: Operation | None = op
    while current is not None:
        text = location_text(current.location)
        if text is not None:
            return text
        current = current.parent_op()
    return None


def from_parse_error(error: ParseError) -> BsirError:
    """Turn xDSL's multi-line parse error into a one-line located one."""
    where = error.span.get_location()
    lines = str(error.msg).strip().splitlines()
    message = lines[0] if lines else "parse error"
    return BsirError(message, f"{where.file}:{where.line}:{where.col}")
