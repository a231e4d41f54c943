"""PyTorch networks exported to ONNX for the tests that compare bsir with onnxruntime:
torchvision's definitions, a quiet export, and what onnxruntime computes."""

import contextlib
import io
import sys
import types
import warnings

import numpy as np
import pytest


def torchvision_models():
    """``torchvision.models`` (the test skips without torchvision); its C operators (a
    CUDA build's) are not needed, so their registration is skipped."""
    sys.modules.setdefault("torchvision._meta_registrations",
                           types.ModuleType("torchvision._meta_registrations"))
    torchvision = pytest.importorskip("torchvision")
    return torchvision.models


def export_quietly(net, x, path: str, exporter: str, opset: int | None = None) -> None:
    """``net`` to ONNX at ``path`` by the TorchScript ("script", opset 17 by default) or
    torch.export ("dynamo", opset 18) exporter, its narration silenced."""
    import torch

    opset = opset or (18 if exporter == "dynamo" else 17)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (x,), path, dynamo=exporter == "dynamo", opset_version=opset)


def onnxruntime_output(path: str, x: np.ndarray) -> np.ndarray:
    """The first output onnxruntime computes for the model's one input ``x``."""
    import onnx
    import onnxruntime as ort

    name = onnx.load(path, load_external_data=False).graph.input[0].name
    return ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(
        None, {name: x})[0]
