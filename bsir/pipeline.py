"""Pass pipelines, written either xDSL-style or MLIR-style.

Both ``tg-sparsify{ratio=0.5},cse`` and
``builtin.module(tg-sparsify{ratio=0.5 block=8,8}, cse)`` name the same pipeline.
Every failure (unknown pass, unknown or ill-typed option, a pass that fails) is a
one-line :class:`~bsir.diagnostics.BsirError`.
"""

from __future__ import annotations

from collections.abc import Callable

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass, PassPipeline, PassPipelineCallbackType
from xdsl.utils.exceptions import ArgSpecParseError, DiagnosticException

from bsir.diagnostics import BsirError

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
    # MLIR separates passes with ", " or ","; xDSL's lexer wants no space after commas
    # between passes but allows spaces inside option braces.
    parts, depth, current = [], 0, []
    for ch in text:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    if current or parts:
        parts.append("".join(current).strip())
    if any(not part for part in parts):
        raise BsirError(f"malformed pipeline '{spec}': empty pass name")
    return ",".join(parts)


def parse_pipeline(spec: str, passes: dict[str, Callable[[], type[ModulePass]]] | None = None,
                   callback: PassPipelineCallbackType | None = None) -> PassPipeline:
    """Build a :class:`PassPipeline` from an xDSL- or MLIR-style spec."""
    passes = available_passes() if passes is None else passes
    text = strip_module_anchor(spec)
    try:
        return PassPipeline.parse_spec(passes, text, callback)
    except ArgSpecParseError as error:
        raise BsirError(f"malformed pipeline '{spec}': {error.args[-1]}") from None
    except (ValueError, TypeError) as error:
        message = str(error)
        if message.startswith("Unrecognized passes"):
            names = message.split(":", 1)[1].strip()
            raise BsirError(
                f"unknown pass {names} (bsir-opt --list-passes shows the passes)"
            ) from None
        raise BsirError(f"bad pass options in '{spec}': {message}") from None


def run_pipeline(module: ModuleOp, spec: str, ctx: Context | None = None) -> ModuleOp:
    """Apply a pipeline to ``module`` in place and verify after every pass."""
    from bsir.ir import make_context, verify_module

    def check(_prev, mod, _next) -> None:
        verify_module(mod)

    pipeline = parse_pipeline(spec, callback=check)
    try:
        pipeline.apply(ctx or make_context(), module)
    except DiagnosticException as error:
        raise BsirError(str(error)) from None
    return module
