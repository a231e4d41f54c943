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

from bsir.diagnostics import BsirError, UsageError, guarded_main
from bsir.driver.pipeline import apply_pipeline, parse_pipeline, pass_options
from bsir.files import FileSafetyError, check_output, file_run, note_input, write_text
from bsir.ir import parse_module, verify_module
from bsir.weights import ir_location, place_weight_files, staged_weights

TOOL = "bsir-opt"


def _one_line_usage_error(message: str) -> None:
    raise UsageError(f"{message} (see {TOOL} --help)")


class BsirOptMain(xDSLOptMain):
    """xDSLOptMain with MLIR-style pipelines, located one-line diagnostics and safe files.

    The input is read whole before any output is written; the output goes to a
    temporary file beside ``-o`` and is renamed over it only when the run succeeded.
    Weights that passes derive stay in memory until then and are written beside the
    output (``X.mlir`` -> ``X.npz``), see :func:`bsir.weights.place_weight_files`.
    """

    def __init__(self, args: Sequence[str] | None = None):
        super().__init__(description="bsir modular optimizer driver", args=args)

    def register_all_arguments(self, arg_parser: argparse.ArgumentParser) -> None:
        super().register_all_arguments(arg_parser)
        arg_parser.error = _one_line_usage_error  # type: ignore[method-assign]
        for action in arg_parser._actions:
            if "--passes" in action.option_strings:
                action.help = ("comma-separated passes with {options}, e.g. "
                               "'tg-sparsify{ratio=0.5},tg-fold-batchnorm' "
                               "(--list-passes shows them)")
            elif "--output-file" in action.option_strings:
                action.help = ("write the IR here (default: standard output); weights "
                               "that passes derive go beside it as FILE.npz")
        arg_parser.add_argument(
            "--pass-pipeline", default=None,
            help="MLIR-style pipeline, e.g. 'builtin.module(tg-sparsify{ratio=0.5})'",
        )
        arg_parser.add_argument(
            "--list-passes", action="store_true",
            help="list bsir's passes (and installed plugins') with their options, and exit",
        )
        arg_parser.add_argument(
            "--all", action="store_true",
            help="with --list-passes: list xDSL's own passes too",
        )
        arg_parser.add_argument(
            "--list-dialects", action="store_true", help="list the loaded dialects and exit"
        )
        arg_parser.add_argument(
            "--force", action="store_true",
            help="replace an existing weights file beside the output even if bsir did "
                 "not write it for this output",
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
        return parse_module("\n" * line_offset + text, name, self.ctx,
                            implicit_module=not self.args.no_implicit_module)

    def prepare_input(self):
        # bsir-opt reads any file as MLIR text, whatever its extension (/dev/stdin too).
        if not self.args.frontend:
            self.args.frontend = "mlir"
        if self.args.input_file:
            note_input(self.args.input_file)
        return super().prepare_input()

    def run(self) -> None:
        if self.args.list_passes:
            print(describe_passes(self.available_passes, every=self.args.all))
            return
        if self.args.list_dialects:
            print("\n".join(sorted(self.ctx.registered_dialect_names)))
            return
        output = self.args.output_file
        with file_run(force=self.args.force), ir_location(self.args.input_file):
            if output and output != "-":
                check_output(output)
            chunks, _extension = self.prepare_input()
            texts = self._read_chunks(chunks)
            report_inline = self.args.verify_diagnostics or self.args.parsing_diagnostics
            results = [self._run_chunk(text, offset, index, report_inline)
                       for index, (text, offset) in enumerate(texts)]
            program = "// -----\n".join(results)
            if output and output != "-":
                write_text(output, program)
            else:
                sys.stdout.write(program)
                sys.stdout.flush()

    def _read_chunks(self, chunks) -> list[tuple[str, int]]:
        """Every chunk of the input, read and decoded before anything is written."""
        texts = []
        for chunk, offset in chunks:
            try:
                raw = chunk.read()
            finally:
                chunk.close()
            try:
                texts.append((raw.decode("utf-8"), offset))
            except UnicodeDecodeError:
                raise BsirError(f"{self.get_input_name()} is not UTF-8 text") from None
        return texts

    def _run_chunk(self, text: str, offset: int, index: int, report_inline: bool) -> str:
        """Parse, transform and print one module; its derived weights are placed beside
        the output."""
        output = self.args.output_file
        try:
            with staged_weights() as store:
                module = self.parse_text(text, offset)
                self.apply_passes(module)
                place_weight_files(module, store, output if output != "-" else None, index)
                return self.output_resulting_program(module)
        except BsirError as error:
            if not report_inline or isinstance(error, FileSafetyError):
                raise
            print(error)
            return ""

    def output_resulting_program(self, prog: ModuleOp) -> str:
        # One trailing newline, as `bsir export` writes, so exported IR is a fixed point.
        return super().output_resulting_program(prog).rstrip("\n") + "\n"

    def apply_passes(self, prog: ModuleOp) -> None:
        if not self.args.disable_verify and not self.pipeline.passes:
            verify_module(prog)
        apply_pipeline(self.pipeline, self.ctx, prog)


def describe_passes(passes: dict, every: bool = False) -> str:
    """bsir's (and plugins') passes with their options and one-line descriptions; with
    ``every``, xDSL's own passes after them, by name."""
    ours, xdsl_own = [], []
    for name in sorted(passes):
        cls = passes[name]()
        (xdsl_own if cls.__module__.startswith("xdsl.") else ours).append((name, cls))
    lines = []
    for name, cls in ours:
        doc = (cls.__doc__ or "").strip().splitlines()
        lines.append(f"{name}  {doc[0] if doc else ''}".rstrip())
        for option, kind, default in pass_options(cls):
            lines.append(f"    {option}: {kind} = {default}")
    if every:
        lines.append("")
        lines.append("xDSL's passes:")
        lines.extend(f"  {name}" for name, _ in xdsl_own)
    else:
        lines.append(f"\n({len(xdsl_own)} more from xDSL: bsir-opt --list-passes --all)")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """The ``bsir-opt`` command, callable in process (tests, scripts)."""
    return guarded_main(TOOL, lambda: BsirOptMain(argv).run())


if __name__ == "__main__":
    sys.exit(main())
