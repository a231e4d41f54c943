"""ONNX export: onnxruntime agrees with bsir, and importing the export is the identity."""

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from bsir.diagnostics import BsirError  # noqa: E402
from bsir.executor import run_module  # noqa: E402
from bsir.ir import print_module  # noqa: E402
from bsir.models import build_model  # noqa: E402
from bsir.onnx_export import export_onnx  # noqa: E402
from bsir.onnx_import import import_onnx  # noqa: E402
from bsir.stats import layer_stats  # noqa: E402
from bsir.weights import materialize  # noqa: E402


@pytest.mark.parametrize("name", ["tiny_cnn", "tiny_resnet", "tiny_inception"])
def test_export_runs_in_onnxruntime_and_imports_back(tmp_path, name):
    model = build_model(name)
    weights = materialize(model.specs, 1)
    path = str(tmp_path / f"{name}.onnx")
    export_onnx(model.module, weights, path)
    x = np.random.default_rng(2).standard_normal(
        model.graph.block.args[0].type.get_shape()).astype(np.float32)
    expected = run_module(model.module, weights, [x])[0]
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": x.transpose(0, 3, 1, 2)})[0]
    assert np.allclose(got, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())
    module, arrays = import_onnx(path)
    assert [(s.op, s.output_shape, s.params) for s in layer_stats(module)] == \
        [(s.op, s.output_shape, s.params) for s in layer_stats(model.module)]
    assert np.array_equal(run_module(module, arrays, [x])[0], expected)


def test_quantized_graphs_are_refused(tmp_path):
    from bsir.passes.tg_quantize import TgQuantizePass

    model = build_model("tiny_cnn")
    weights = TgQuantizePass().quantize(model.module, materialize(model.specs, 0),
                                        [[np.zeros((1, 16, 16, 3), np.float32)]])
    with pytest.raises(BsirError, match="only float graphs"):
        export_onnx(model.module, weights, str(tmp_path / "q.onnx"))
    assert "tg.quantize" in print_module(model.module)


@pytest.mark.parametrize("name", ["tiny_cnn", "tiny_resnet", "tiny_inception"])
def test_the_export_carries_its_shapes_and_unique_node_names(tmp_path, name):
    """Other tools read the file as written: every intermediate tensor's shape is in
    value_info (matching strict shape inference), the full checker passes, and node names
    are unique and never a tensor's name (Stream's parser indexes nodes by name)."""
    model = build_model(name)
    path = str(tmp_path / f"{name}.onnx")
    export_onnx(model.module, materialize(model.specs, 1), path)
    exported = onnx.load(path)
    onnx.checker.check_model(exported, full_check=True)
    inferred = onnx.shape_inference.infer_shapes(exported, check_type=True, strict_mode=True)

    def shapes(values):
        return {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim] for v in values}

    written = shapes(exported.graph.value_info)
    produced = {out for node in exported.graph.node for out in node.output}
    outputs = {v.name for v in exported.graph.output}
    assert set(written) == produced - outputs
    assert shapes(inferred.graph.value_info) == written
    names = [node.name for node in exported.graph.node]
    assert len(set(names)) == len(names) and not set(names) & (produced | outputs)
