"""One-line, located diagnostics: the only way bsir reports bad input to a user."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from xdsl.dialects.builtin import FileLineColLoc
from xdsl.ir import Attribute, Operation
from xdsl.utils.exceptions import DiagnosticException, ParseError, PassFailedException


class BsirError(Exception):
    """Bad input, reported as ``where: error: message`` on one line."""

    def __init__(self, message: str, where: str | None = None):
        super().__init__(message)
        self.message = " ".join(message.split())
        self.where = where

    def __str__(self) -> str:
        prefix = f"{self.where}: " if self.where else ""
        return f"{prefix}error: {self.message}"


class UsageError(BsirError):
    """A command line that does not parse: unknown option, missing argument (exit 2)."""


class MappingError(BsirError):
    """A layer that cannot be mapped onto the array: a memory overflows."""


class MappingFailed(PassFailedException):
    """What a pass raises when a layer does not fit the array (becomes MappingError)."""


def from_diagnostic(error: DiagnosticException) -> BsirError:
    """The one-line, typed error of a pass or verifier that refused its input."""
    kind = MappingError if isinstance(error, MappingFailed) else BsirError
    return kind(str(error))


def location_text(location: Attribute) -> str | None:
    """``file:line:col`` of an op location, or None when the location is unknown."""
    if isinstance(location, FileLineColLoc):
        return f"{location.filename.data}:{location.line.data}:{location.column.data}"
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


def guarded_main(tool: str, body: Callable[[], int | None]) -> int:
    """Run a command's body; report any failure on one line and return the exit code.

    ``BsirError`` (bad input), a pass's ``PassFailedException`` or ``VerifyException``,
    and a missing or unreadable file exit 1; usage errors exit 2 (the tools raise
    :class:`UsageError`); anything else is an internal error (exit 3, a bug) whose
    traceback ``BSIR_DEBUG=1`` shows.
    """
    try:
        return body() or 0
    except BsirError as error:
        text = str(error)
        print(text if error.where else f"{tool}: {text}", file=sys.stderr)
        return 2 if isinstance(error, UsageError) else 1
    except BrokenPipeError:  # the reader went away (`bsir-opt x.mlir | head`): stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except OSError as error:
        where = f" '{error.filename}'" if error.filename else ""
        print(f"{tool}: error: cannot access{where}: {error.strerror or error}", file=sys.stderr)
        return 1
    except DiagnosticException as error:  # a pass or verifier refused its input
        print(f"{tool}: {from_diagnostic(error)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{tool}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if os.environ.get("BSIR_DEBUG"):
            raise
        message = " ".join(str(error).split()) or type(error).__name__
        print(f"{tool}: internal error: {type(error).__name__}: {message} "
              "(set BSIR_DEBUG=1 for the traceback)", file=sys.stderr)
        return 3
