"""A representative subset of torchvision's classification networks, from either ONNX
exporter, through bsir: import, run against onnxruntime, compile dense and 50 % sparse on
4x4, and the INT8 program bit for bit on 2x2 (64 x 64 inputs to keep CI short; every
family and both exporters: ``python benchmarks/model_zoo.py --verify``)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from exported_models import (  # noqa: E402
    export_quietly,
    onnxruntime_output,
    torchvision_models,
)


@pytest.mark.parametrize("family, exporter", [("resnet18", "script"),
                                              ("mobilenet_v3_small", "dynamo"),
                                              ("efficientnet_b0", "script")])
def test_a_torchvision_network_compiles_and_verifies(tmp_path, family, exporter):

    from bsir.driver.compile import CompileOptions, compile_module
    from bsir.executor import run_module
    from bsir.onnx_import import import_onnx

    torch.manual_seed(0)
    net = getattr(torchvision_models(), family)().eval()
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    path = str(tmp_path / f"{family}.onnx")
    export_quietly(net, x, path, exporter)
    module, arrays = import_onnx(path)
    expected = onnxruntime_output(path, x.numpy())
    sample = x.numpy().transpose(0, 2, 3, 1)
    got = run_module(module.clone(), arrays, [sample])[0]
    assert np.abs(got - expected).max() <= 1e-4 * np.abs(expected).max()
    dense = compile_module(module.clone(), arrays, "4x4", options=CompileOptions(quantize=False))
    sparse = compile_module(module.clone(), arrays, "4x4",
                            options=CompileOptions(sparsity=0.5, quantize=False))
    assert dense.failed is None and sparse.failed is None
    assert sparse.total_s <= dense.total_s
    program = compile_module(module, arrays, "2x2", options=CompileOptions(calibration=(sample,)))
    assert program.verify([sample]).layers == len(program.layers)
