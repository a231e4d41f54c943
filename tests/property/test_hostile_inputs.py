"""Hostile inputs at full size: a mutated ResNet50 IR, damaged weights files and odd
command-line options end in a result or a one-line error (exit 1 or 2, never 3), within
a few seconds each, and leave every input file byte for byte as it was.

The time limit is generous (the inputs take well under a second); it exists to catch
the exponential cases (xDSL's string regex on an unclosed quote), which never end."""

from __future__ import annotations

import hashlib
import signal
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from fuzzing import CUT, INSERT, REPLACE, mutate
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bsir.ir import print_module
from bsir.models import build_model
from bsir.tools import bsir_cli, bsir_opt

SECONDS_PER_INPUT = 15
RESNET50_IR = print_module(build_model("resnet50").module)


class TooSlow(BaseException):
    """Raised by the alarm; a BaseException so that no command's handler swallows it."""


@contextmanager
def time_limit(seconds: int):
    def ring(_signum, _frame):
        raise TooSlow(f"one input took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, ring)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in folder.iterdir() if p.is_file()}


def run_clean(tool, argv: list[str], capfd, inputs: Path) -> int:
    """Run a command on hostile input: clean exit, one line, inputs unchanged."""
    before = digests(inputs)
    with time_limit(SECONDS_PER_INPUT):
        code = tool.main([str(a) for a in argv])
    err = capfd.readouterr().err
    assert "Traceback" not in err and "internal error" not in err, err
    assert code in (0, 1, 2), err
    if code:
        assert len(err.strip().splitlines()) == 1, err
    after = digests(inputs)
    assert {name: after.get(name) for name in before} == before
    return code


ir_edits = st.lists(st.tuples(st.integers(0, 4), st.integers(0, 10**6),
                              st.integers(1, 127)), min_size=1, max_size=6)


@pytest.mark.slow
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture],
          max_examples=max(8, settings.default.max_examples // 4))
@given(ir_edits, st.sampled_from(["", "convert-tg-to-tiling{grid=2x2}"]))
def test_mutated_resnet50_ir(tmp_path, capfd, edits, pipeline):
    folder = tmp_path / "in"
    folder.mkdir(exist_ok=True)
    path = folder / "r.mlir"
    path.write_bytes(mutate(RESNET50_IR.encode(), edits))
    argv = [path, "-o", tmp_path / "out.mlir"] + (["-p", pipeline] if pipeline else [])
    run_clean(bsir_opt, argv, capfd, folder)


@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny")
    assert bsir_cli.main(["export", "tiny_resnet", "-o", str(folder / "t.mlir")]) == 0
    return (folder / "t.mlir").read_text(), (folder / "t.npz").read_bytes()


byte_edits = st.lists(st.tuples(st.sampled_from([REPLACE, INSERT, CUT]),
                                st.integers(0, 10**6), st.integers(0, 255)),
                      min_size=1, max_size=6)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture],
          max_examples=max(10, settings.default.max_examples // 3))
@given(byte_edits, st.sampled_from([["run"], ["run", "--int8"], ["compile"]]))
def test_damaged_weights_file(tmp_path, capfd, tiny_files, edits, command):
    text, weights = tiny_files
    folder = tmp_path / "in"
    folder.mkdir(exist_ok=True)
    (folder / "t.mlir").write_text(text)
    (folder / "t.npz").write_bytes(mutate(weights, edits))
    run_clean(bsir_cli, [*command, folder / "t.mlir"], capfd, folder)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture],
          max_examples=max(10, settings.default.max_examples // 3))
@given(st.sampled_from(["float32", "float64", "int8", "complex64", "bool", "U3"]),
       st.lists(st.integers(1, 20), min_size=0, max_size=5),
       st.sampled_from([0.0, np.nan, np.inf, -1e30]))
def test_odd_input_arrays(tmp_path, capfd, tiny_files, dtype, shape, fill):
    text, weights = tiny_files
    folder = tmp_path / "in"
    folder.mkdir(exist_ok=True)
    (folder / "t.mlir").write_text(text)
    (folder / "t.npz").write_bytes(weights)
    array = np.zeros(shape, dtype=dtype)
    if array.dtype.kind in "fc":
        array[...] = fill
    np.save(folder / "x.npy", array)
    run_clean(bsir_cli, ["run", folder / "t.mlir", "--input", folder / "x.npy"], capfd,
              folder)


option_text = st.one_of(
    st.text(alphabet="0123456789x-.,eE+ naif", max_size=8),
    st.sampled_from(["4x4", "0x4", "9x9", "-1x2", "2x2", "ryzen-ai-strix", "nan", "1e9",
                     "8x8", "x", "", "my.toml", "/dev/null"]),
)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture],
          max_examples=max(10, settings.default.max_examples // 2))
@given(st.sampled_from(["--grid", "--sparsity", "--block", "--criterion", "--memtiles",
                        "--seed", "--input-seed"]), option_text)
def test_odd_compile_options(tmp_path, capfd, option, value):
    folder = tmp_path / "in"
    folder.mkdir(exist_ok=True)
    (folder / "keep.txt").write_text("keep")
    run_clean(bsir_cli, ["compile", "tiny_cnn", option, value], capfd, folder)


pass_options = st.sampled_from([
    "tg-sparsify{{ratio={v}}}", "tg-sparsify{{block={v}}}", "tg-sparsify{{criterion={v}}}",
    "convert-tg-to-tiling{{grid={v}}}", "convert-tg-to-tiling{{hardware={v}}}",
    "tg-quantize{{samples={v}}}", "tg-quantize{{calibration={v}}}", "{v}",
])


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture],
          max_examples=max(10, settings.default.max_examples // 2))
@given(pass_options, st.one_of(option_text, st.text(max_size=12)))
def test_odd_pass_options(tmp_path, capfd, tiny_files, template, value):
    text, weights = tiny_files
    folder = tmp_path / "in"
    folder.mkdir(exist_ok=True)
    (folder / "t.mlir").write_text(text)
    (folder / "t.npz").write_bytes(weights)
    run_clean(bsir_opt, [folder / "t.mlir", "-p", template.format(v=value), "-o",
                         tmp_path / "out.mlir"], capfd, folder)
