"""bsir-opt: the mlir-opt style driver over bsir's dialects and passes.

An :class:`xdsl.xdsl_opt_main.xDSLOptMain` that (1) takes MLIR's
``--pass-pipeline='builtin.module(...)'`` besides xDSL's ``-p``, (2) sees every dialect
and pass of the xDSL multiverse, installed plugins included, and (3) reports bad input
as one located line (``file:line:col: error: ...``) with a non-zero exit.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from xdsl.dialects.builtin import ModuleOp
from xdsl.xdsl_opt_main import xDSLOptMain

from bsir.diagnostics import BsirError, guarded_main
from bsir.ir import LocatedParser, verify_module
from bsir.pipeline import parse_pipeline
from bsir.weights import ir_location

TOOL = "bsir-opt"


def _one_line_usage_error(message: str) -> None:
    raise BsirError(f"{message} (see {TOOL} --help)")


class BsirOptMain(xDSLOptMain):
    """xDSLOptMain with MLIR-style pipelines and located one-line diagnostics."""

    def __init__(self, args: Sequence[str] | None = None):
        super().__init__(description="bsir modular optimizer driver", args=args)

    def register_all_arguments(self, arg_parser: argparse.ArgumentParser) -> None:
        super().register_all_arguments(arg_parser)
        arg_parser.error = _one_line_usage_error  # type: ignore[method-assign]
        arg_parser.add_argument(
            "--pass-pipeline", default=None,
            help="MLIR-style pipeline, e.g. 'builtin.module(tg-sparsify{ratio=0.5})'",
        )
        arg_parser.add_argument(
            "--list-passes", action="store_true", help="list the available passes and exit"
        )
        arg_parser.add_argument(
            "--list-dialects", action="store_true", help="list the loaded dialects and exit"
        )

    def setup_pipeline(self) -> None:
        if self.args.passes and self.args.pass_pipeline:
            raise BsirError("give either -p/--passes or --pass-pipeline, not both")
        spec = self.args.pass_pipeline or self.args.passes or ""

        def verify_between(_previous, module: ModuleOp, _next) -> None:
            if not self.args.disable_verify:
                verify_module(module)

        self.pipeline = parse_pipeline(spec, self.available_passes, verify_between)

    def parse_text(self, text: str, line_offset: int) -> ModuleOp:
        name = self.get_input_name()
        # Pad with newlines so that locations count from the top of the whole file.
        from xdsl.utils.exceptions import ParseError

        from bsir.diagnostics import from_parse_error

        try:  # the parser reads its first token when it is made
            parser = LocatedParser(self.ctx, "\n" * line_offset + text, name)
            return parser.parse_module(not self.args.no_implicit_module)
        except ParseError as error:
            raise from_parse_error(error) from None

    def run(self) -> None:
        if self.args.list_passes:
            print("\n".join(sorted(self.available_passes)))
            return
        if self.args.list_dialects:
            print("\n".join(sorted(self.ctx.registered_dialect_names)))
            return
        chunks, _extension = self.prepare_input()
        output = self.prepare_output()
        report_inline = self.args.verify_diagnostics or self.args.parsing_diagnostics
        with ir_location(self.args.input_file):
            self._run_chunks(chunks, output, report_inline)

    def _run_chunks(self, chunks, output, report_inline: bool) -> None:
        try:
            for index, (chunk, offset) in enumerate(chunks):
                if index:
                    output.write("// -----\n")
                try:
                    raw = chunk.read()
                finally:
                    chunk.close()
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError:
                    raise BsirError(f"{self.get_input_name()} is not UTF-8 text") from None
                try:
                    module = self.parse_text(text, offset)
                    self.apply_passes(module)
                    output.write(self.output_resulting_program(module))
                except BsirError as error:
                    if not report_inline:
                        raise
                    print(error)
                output.flush()
        finally:
            if output is not sys.stdout:
                output.close()

    def output_resulting_program(self, prog: ModuleOp) -> str:
        # One trailing newline, as `bsir export` writes, so exported IR is a fixed point.
        return super().output_resulting_program(prog).rstrip("\n") + "\n"

    def apply_passes(self, prog: ModuleOp) -> None:
        from xdsl.utils.exceptions import DiagnosticException

        if not self.args.disable_verify and not self.pipeline.passes:
            verify_module(prog)
        try:
            self.pipeline.apply(self.ctx, prog)
        except DiagnosticException as error:
            raise BsirError(" ".join(str(error).split())) from None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``bsir-opt`` console script."""
    return guarded_main(TOOL, lambda: BsirOptMain(argv).run())


if __name__ == "__main__":
    sys.exit(main())
