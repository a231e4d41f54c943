"""Fuzzing the front ends: random and mutated text fed to ``bsir-opt`` and random and
mutated bytes fed to ``bsir import`` end in a result or a one-line error, never in a
Python traceback or an internal error."""

import os

import pytest
from fuzzing import mutate
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bsir.ir import print_module
from bsir.models import build_model
from bsir.onnx_export import export_onnx
from bsir.tools import bsir_cli, bsir_opt
from bsir.weights import materialize

SEED_IR = print_module(build_model("tiny_cnn").module)  # valid IR to mutate

PIPELINES = ["", "tg-fold-batchnorm", "convert-tg-to-tiling{grid=2x2}",
             "tg-sparsify{ratio=0.5}", "convert-tg-to-tiling,tiling-color-memtiles"]


edits = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 10**6), st.integers(0, 255)),
                 min_size=1, max_size=8)
texts = st.one_of(
    st.text(max_size=300),
    edits.map(lambda e: mutate(SEED_IR.encode(), e).decode("utf-8", "replace")),
    st.lists(st.sampled_from(SEED_IR.split()), max_size=60).map(" ".join),
)


def assert_clean(code: int, err: str) -> None:
    assert "Traceback" not in err
    assert code in (0, 1), err  # 3 would be an internal error
    if code:
        assert len(err.strip().splitlines()) == 1, err


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts, st.sampled_from(PIPELINES))
def test_bsir_opt_never_crashes(tmp_path, capfd, text, pipeline):
    path = tmp_path / "fuzz.mlir"
    path.write_text(text, encoding="utf-8")
    argv = [str(path), "-o", os.devnull]
    if pipeline:
        argv += ["-p", pipeline]
    code = bsir_opt.main(argv)
    assert_clean(code, capfd.readouterr().err)


@pytest.fixture(scope="module")
def onnx_bytes(tmp_path_factory):
    built = build_model("tiny_cnn")
    path = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    export_onnx(built.module, materialize(built.specs, 0), str(path))
    return path.read_bytes()


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture],
          max_examples=max(10, settings.default.max_examples // 3))
@given(st.one_of(edits.map(lambda e: ("mutate", e)), st.binary(max_size=200).map(
    lambda b: ("random", b))))
def test_bsir_import_never_crashes(tmp_path, capfd, onnx_bytes, case):
    kind, value = case
    data = mutate(onnx_bytes, value) if kind == "mutate" else value
    path = tmp_path / "fuzz.onnx"
    path.write_bytes(data)
    code = bsir_cli.main(["import", str(path), "-o", str(tmp_path / "out.mlir")])
    assert_clean(code, capfd.readouterr().err)
