"""Pass pipelines, written either xDSL-style or MLIR-style.

Both ``tg-sparsify{ratio=0.5},cse`` and
``builtin.module(tg-sparsify{ratio=0.5 block=8,8}, cse)`` name the same pipeline.
Every failure (unknown pass, unknown or ill-typed option, a pass that fails) is a
one-line :class:`~bsir.diagnostics.BsirError`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import get_type_hints

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass, PassPipeline, PassPipelineCallbackType
from xdsl.utils.exceptions import ArgSpecParseError, DiagnosticException

from bsir.diagnostics import BsirError, from_diagnostic

MODULE_ANCHOR = "builtin.module"


def available_passes() -> dict[str, Callable[[], type[ModulePass]]]:
    """Every pass of the xDSL multiverse: xDSL's own, bsir's and installed plugins'."""
    from xdsl.universe import Universe

    return dict(Universe.get_multiverse().all_passes)


def strip_module_anchor(spec: str) -> str:
    """Remove MLIR's ``builtin.module(...)`` wrapper(s); other anchors are refused."""
    text = spec.strip()
    while text.startswith(MODULE_ANCHOR):
        rest = text[len(MODULE_ANCHOR):].lstrip()
        if not (rest.startswith("(") and rest.endswith(")")):
            raise BsirError(f"malformed pipeline '{spec}': expected {MODULE_ANCHOR}(...)")
        text = rest[1:-1].strip()
    depth = 0
    for ch in text:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth == 0 and ch in "()":
            raise BsirError(
                f"pipeline '{spec}' nests an anchor other than {MODULE_ANCHOR}; "
                "bsir passes run on whole modules"
            )
    if not text:
        return ""
    # MLIR separates passes with ", " or ","; xDSL's lexer wants no space after commas
    # between passes but allows spaces inside option braces.
    parts = [part.strip() for part in _split_top(text, ",")]
    if any(not part for part in parts):
        raise BsirError(f"malformed pipeline '{spec}': empty pass name")
    return ",".join(parts)


_NUMBER = re.compile(r"[-+]?[0-9]+(\.[0-9]*([eE][-+]?[0-9]+)?)?$")
_INTEGER = re.compile(r"[-+]?[0-9]+$")
_IDENT = re.compile(r"[A-Za-z0-9_-]+$")


def pass_options(cls: type[ModulePass]) -> list[tuple[str, str, str]]:
    """(option name as written in a pipeline, type, default) of every option of a pass."""
    hints = get_type_hints(cls)
    out = []
    for item in dataclasses.fields(cls):
        if not item.init:
            continue
        kind = hints.get(item.name, str)
        kind_name = getattr(kind, "__name__", None) or str(kind)
        if kind_name == "tuple":
            kind_name = "int,int"
        default = item.default
        if default is dataclasses.MISSING:
            shown = "(required)"
        elif isinstance(default, bool):
            shown = str(default).lower()
        elif isinstance(default, tuple):
            shown = ",".join(map(str, default))
        elif isinstance(default, str):
            shown = f'"{default}"'
        else:
            shown = str(default)
        out.append((item.name.replace("_", "-"), kind_name, shown))
    return out


def _split_top(text: str, separator: str) -> list[str]:
    """Split at ``separator`` outside braces and string literals."""
    parts, depth, current, quoted, escaped = [], 0, [], False, False
    for ch in text:
        if quoted:
            quoted = not (ch == '"' and not escaped)
            escaped = ch == "\\" and not escaped
        elif ch == '"':
            quoted = True
        elif ch in "{}":
            depth += 1 if ch == "{" else -1
        if ch == separator and depth == 0 and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def _option_items(body: str) -> list[tuple[str, str | None]]:
    """``key=value`` items of an option body; values may be quoted or bare paths."""
    items: list[tuple[str, str | None]] = []
    index, length = 0, len(body)
    while index < length:
        while index < length and body[index].isspace():
            index += 1
        if index >= length:
            break
        start = index
        while index < length and not body[index].isspace() and body[index] != "=":
            index += 1
        key = body[start:index]
        if index >= length or body[index] != "=":
            items.append((key, None))
            continue
        index += 1
        start = index
        if index < length and body[index] == '"':
            index += 1
            while index < length and body[index] != '"':
                index += 2 if body[index] == "\\" else 1
            index += 1
        else:
            while index < length and not body[index].isspace():
                index += 1
        items.append((key, body[start:index]))
    return items


def _normalise_value(value: str, kind: object) -> str:
    """Quote a bare path (``my.toml``); write an integer given to a float as a float."""
    if value.startswith('"'):
        return value
    if kind is float and _INTEGER.match(value):
        return f"{value}.0"
    elements = value.split(",")
    if all(_NUMBER.match(e) or _IDENT.match(e) for e in elements):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def normalise_spec(text: str, passes: dict[str, Callable[[], type[ModulePass]]]) -> str:
    """Rewrite each ``name{options}`` so that xDSL's pipeline syntax accepts what a user
    naturally writes: bare file paths and integers for float options."""
    out = []
    for part in _split_top(text, ","):
        name, brace, body = part.partition("{")
        name = name.strip()
        if name not in passes:
            raise BsirError(f"unknown pass '{name}' (bsir-opt --list-passes shows the passes)")
        if not brace:
            out.append(name)
            continue
        if not body.rstrip().endswith("}"):
            raise BsirError(f"malformed pipeline '{text}': the options of '{name}' miss "
                            "their closing '}'")
        body = body.rstrip()[:-1]
        hints: dict[str, object] = {}
        if name in passes:
            try:
                hints = get_type_hints(passes[name]())
            except Exception:  # a plugin's unusual annotations: leave its options alone
                hints = {}
        items = []
        for key, value in _option_items(body):
            if value is None:
                items.append(key)
                continue
            kind = hints.get(key.replace("-", "_"))
            items.append(f"{key}={_normalise_value(value, kind)}")
        out.append(f"{name}{{{' '.join(items)}}}")
    return ",".join(out)


def parse_pipeline(spec: str, passes: dict[str, Callable[[], type[ModulePass]]] | None = None,
                   callback: PassPipelineCallbackType | None = None) -> PassPipeline:
    """Build a :class:`PassPipeline` from an xDSL- or MLIR-style spec."""
    passes = available_passes() if passes is None else passes
    text = strip_module_anchor(spec)
    text = normalise_spec(text, passes) if text else ""
    try:
        return PassPipeline.parse_spec(passes, text, callback)
    except ArgSpecParseError as error:
        raise BsirError(f"malformed pipeline '{spec}': {error.args[-1]}") from None
    except (ValueError, TypeError) as error:
        raise BsirError(f"bad pass options in '{spec}': {error}") from None


def apply_pipeline(pipeline: PassPipeline, ctx: Context, module: ModuleOp) -> None:
    """Run ``pipeline`` on ``module``; a pass that refuses its input is a BsirError."""
    try:
        pipeline.apply(ctx, module)
    except DiagnosticException as error:
        raise from_diagnostic(error) from None


def run_pipeline(module: ModuleOp, spec: str, ctx: Context | None = None) -> ModuleOp:
    """Apply a pipeline to ``module`` in place and verify after every pass."""
    from bsir.ir import make_context, verify_module

    def check(_prev, mod, _next) -> None:
        verify_module(mod)

    apply_pipeline(parse_pipeline(spec, callback=check), ctx or make_context(), module)
    return module
