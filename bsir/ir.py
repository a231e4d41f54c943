"""Reading, verifying and writing bsir's text IR.

:func:`parse_module` stamps every op with the ``file:line:col`` it was parsed from, so
that :func:`verify_module` (and any pass) can report a located one-line error.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from io import StringIO

from xdsl.context import Context
from xdsl.dialects.builtin import FileLineColLoc, IntAttr, ModuleOp, StringAttr, UnknownLoc
from xdsl.ir import Operation
from xdsl.parser import Parser
from xdsl.parser.generic_parser import ParserState
from xdsl.printer import Printer
from xdsl.utils.exceptions import ParseError, VerifyException
from xdsl.utils.lexer import Input, Span
from xdsl.utils.mlir_lexer import MLIRLexer

from bsir.diagnostics import BsirError, from_parse_error, op_location
from bsir.files import note_input


def make_context() -> Context:
    """A context with every dialect of the xDSL multiverse: builtin, bsir's, plugins'."""
    from xdsl.universe import Universe

    ctx = Context()
    for name, factory in Universe.get_multiverse().all_dialects.items():
        ctx.register_dialect(name, factory)
    return ctx


class LinearTimeLexer(MLIRLexer):
    r"""xDSL's MLIR lexer with a string-literal pattern that cannot backtrack.

    xDSL 0.74's pattern ``"(?:[^"\\\n\v\f]+|\\(?:["nt\\]|[0-9A-Fa-f]{2}))*"`` nests a
    ``+`` inside a ``*``: when the closing quote is missing, the regex engine tries
    every way of splitting the line into runs, which doubles with each character (a
    20,000-character line never finishes). The possessive form below matches exactly
    the same strings and gives up in linear time.
    """

    _unescaped_characters_regex = re.compile(
        r'"(?:[^"\\\n\v\f]++|\\(?:["nt\\]|[0-9A-Fa-f]{2}))*+"'
    )

    def _lex_string_literal(self, start_pos: int):
        if self._unescaped_characters_regex.match(self.input.content, start_pos) is None:
            raise ParseError(Span(start_pos, start_pos + 1, self.input),
                             "string literal not closed on its line")
        return super()._lex_string_literal(start_pos)


class LocatedParser(Parser):
    """An xDSL parser that records where each operation starts in the source."""

    def __init__(self, ctx: Context, text: str, name: str = "<stdin>"):
        # Parser's constructor lexes its first token with xDSL's lexer: give it nothing
        # to lex, then hand it the linear-time lexer over the real text.
        super().__init__(ctx, "", name)
        self._parser_state = ParserState(LinearTimeLexer(Input(text, name)))
        self._file = StringAttr(name)
        self._line_starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]

    def _position(self, offset: int) -> tuple[int, int]:
        line = bisect_right(self._line_starts, offset)
        return line, offset - self._line_starts[line - 1] + 1

    def _where(self, offset: int) -> str:
        line, col = self._position(offset)
        return f"{self._file.data}:{line}:{col}"

    def parse_operation(self) -> Operation:
        start = self.pos
        try:
            op = super().parse_operation()
        except VerifyException as error:
            # Attribute and property checks run while the op is being built.
            raise BsirError(str(error), self._where(start)) from None
        except NotImplementedError as error:
            # xDSL cannot build some well-formed but unsupported attributes
            # (``array<i74: 2, 2>``): a limit of the input, not a bug.
            raise BsirError(f"unsupported in an operation: {error}", self._where(start)) \
                from None
        except ParseError as error:
            if "is not registered" not in error.msg:
                raise
            # xDSL points past the op name; point at the op itself.
            raise BsirError(error.msg, self._where(start)) from None
        if isinstance(op.location, UnknownLoc):
            line, col = self._position(start)
            op.location = FileLineColLoc(self._file, IntAttr(line), IntAttr(col))
        return op


def parse_module(text: str, name: str = "<stdin>", ctx: Context | None = None,
                 implicit_module: bool = True) -> ModuleOp:
    """Parse text IR; raises :class:`BsirError` with the location of the problem."""
    if not text.strip():
        raise BsirError("the input is empty: there is no IR to read", f"{name}:1:1")
    try:  # the parser reads its first token when it is made
        parser = LocatedParser(ctx or make_context(), text, name)
        return parser.parse_module(implicit_module)
    except ParseError as error:
        raise from_parse_error(error) from None


def verify_module(module: ModuleOp) -> None:
    """Verify every op; the first failure becomes a located :class:`BsirError`."""
    for op in module.walk():
        try:
            op.verify(verify_nested_ops=False)
        except VerifyException as error:
            raise BsirError(f"'{op.name}': {error}", op_location(op)) from None


def load_module(path: str, ctx: Context | None = None) -> ModuleOp:
    """Read, parse and verify a text IR file."""
    note_input(path)
    try:
        with open(path, encoding="utf-8") as stream:
            text = stream.read()
    except OSError as error:
        raise BsirError(f"cannot read {path}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise BsirError(f"{path} is not UTF-8 text IR") from None
    module = parse_module(text, path, ctx)
    verify_module(module)
    return module


def print_module(module: Operation) -> str:
    """The custom (pretty) text form of ``module``, newline-terminated."""
    out = StringIO()
    Printer(stream=out).print_op(module)
    out.write("\n")
    return out.getvalue()
