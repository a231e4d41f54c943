"""The Python API a notebook user writes: ``bsir.compile(...)`` and its result."""

import json

import pytest

import bsir
from bsir.diagnostics import BsirError, MappingError
from bsir.ir import load_module
from bsir.models import build_model
from bsir.targets.aie2.time_model import LayerTime, time_network
from bsir.weights import materialize


def test_compile_a_model_by_name(tmp_path):
    result = bsir.compile("tiny_resnet", grid="2x2", sparsity=0.5)
    assert result.failed is None and result.total_s > 0
    assert all(isinstance(layer, LayerTime) for layer in result.layers)
    assert result.total_s == pytest.approx(sum(layer.total_s for layer in result.layers))
    data = result.to_json()
    assert data["grid"] == [2, 2] and data["sparsity"] == 0.5
    assert len(data["layers"]) == len(result.layers)
    json.dumps(data)
    result.trace(str(tmp_path / "t.json"))
    assert json.loads((tmp_path / "t.json").read_text())["traceEvents"]
    result.report(str(tmp_path / "r.html"), baseline=bsir.compile("tiny_resnet", grid="2x2"))
    assert "tiny_resnet" in (tmp_path / "r.html").read_text()
    assert result.sparsity_label() == "sparse 50% (8x8 blocks)"


def test_the_estimate_does_not_depend_on_quantization():
    plain = bsir.compile("tiny_inception", grid="3x2")
    program = bsir.compile("tiny_inception", grid="3x2", quantize=True)
    assert [layer.name for layer in plain.layers] == [layer.name for layer in program.layers]
    assert plain.to_json() == program.to_json()
    with pytest.raises(BsirError, match="only the INT8 program"):
        plain.verify()
    assert program.verify().layers == len(program.layers)


def test_compile_a_module_in_memory_and_write_the_program(tmp_path):
    built = build_model("tiny_cnn")
    result = bsir.compile((built.module, materialize(built.specs, 0)), grid="1x2",
                          quantize=True)
    written = result.write_ir(str(tmp_path / "p.mlir"))
    assert [p.rsplit("/", 1)[1] for p in written] == ["p.mlir", "p.npz", "p.packed.npz"]
    # The written program holds everything the time model needs, the array included.
    assert time_network(load_module(str(tmp_path / "p.mlir"))).total_s == result.total_s
    with pytest.raises(BsirError, match="mapped already"):
        bsir.compile(str(tmp_path / "p.mlir"))


def test_a_model_that_does_not_fit(tmp_path):
    hardware = tmp_path / "tiny.toml"
    hardware.write_text("rows = 2\ncols = 2\n[core]\ninput_buffer = 64\noutput_buffer = 64\n")
    result = bsir.compile("tiny_cnn", grid=str(hardware))
    assert result.total_s is None and "overflows" in result.failed
    with pytest.raises(MappingError):
        result.trace(str(tmp_path / "t.json"))


def test_compile_under_the_papers_estimator():
    honest = bsir.compile("tiny_resnet", grid="paper-2x2")
    paper = bsir.compile("tiny_resnet", grid="paper-2x2", cost_model="paper")
    assert paper.to_json()["cost_model"] == "paper" and honest.to_json()["cost_model"] == "honest"
    # the same program, timed by other rules
    assert [layer.split for layer in paper.layers] == [layer.split for layer in honest.layers]
    assert paper.total_s != honest.total_s
    with pytest.raises(BsirError, match="cost_model is one of honest, paper"):
        bsir.compile("tiny_cnn", cost_model="fast")
