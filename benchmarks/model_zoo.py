"""How far torchvision's classification networks get through bsir, from either exporter.

For each family and each ONNX exporter (TorchScript: ``dynamo=False``; the default
``torch.export`` one: ``dynamo=True``), with random weights (seed 0) and a reduced input:
export, ``bsir import``, run against onnxruntime (max |difference| relative to max |y|,
within 1e-4), with ``--int8`` the INT8 graph (``tg-quantize`` calibrated on another
random input) against the float one (max |difference| relative to max |y|, and whether
the top class is the same), ``bsir compile`` onto 4x4 dense and with 8x8 blocks at 50 %
(the transformers: their linear layers too),
and, with ``--verify``, the INT8 program simulated on 2x2 and on 3x5 bit for bit. Each cell is
``ok`` with its time, or the first error, shortened. Baseline in the same run:
onnxruntime's own inference time.

    python benchmarks/model_zoo.py [--families resnet18 mobilenet_v3_small ...]
                                   [--exporters script dynamo] [--size 64 | --full]
                                   [--int8] [--verify]

Needs the ``train`` extra and torchvision. The torchvision wheel this project can get is
a CUDA build whose C operators do not register against the CPU torch; the model
definitions need none of them, so the script skips the module that registers them
(``torchvision._meta_registrations``). Install it beside torch without its
dependencies: ``pip install --no-deps torchvision``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile
import time
import types
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from machine import describe

FAMILIES = ("resnet18", "resnet50", "resnext50_32x4d", "wide_resnet50_2", "vgg11", "alexnet",
            "squeezenet1_1", "googlenet", "inception_v3", "densenet121", "mobilenet_v2",
            "mobilenet_v3_small", "mnasnet0_5", "shufflenet_v2_x0_5", "efficientnet_b0",
            "efficientnet_v2_s", "regnet_x_400mf", "regnet_y_400mf",
            "vit_b_16", "swin_t", "convnext_tiny", "maxvit_t")
TRANSFORMERS = ("vit_b_16", "swin_t", "convnext_tiny", "maxvit_t")
"""The transformers among them (they import, run and run in INT8; mapping them is not
built yet)."""
SIZES = {"inception_v3": 96, "alexnet": 224, "vgg11": 224, "vit_b_16": 224, "swin_t": 224,
         "maxvit_t": 224}
"""Inputs a network needs larger than the default: Inception-v3's pooling would run out of
rows; AlexNet's and VGG's adaptive pooling to 6x6 and 7x7 is an identity only at 224
(TorchScript cannot export it otherwise); ViT's positions and MaxViT's and Swin's
windows are made for 224."""


def torchvision_models():
    sys.modules.setdefault("torchvision._meta_registrations",
                           types.ModuleType("torchvision._meta_registrations"))
    import torchvision

    return torchvision.models


def build(family: str):
    import torch

    torch.manual_seed(0)
    kwargs = {"init_weights": True} if family in ("googlenet", "inception_v3") else {}
    if family in ("googlenet", "inception_v3"):
        kwargs["aux_logits"] = False
    net = getattr(torchvision_models(), family)(**kwargs).eval()
    if family == "vit_b_16":  # its classifier starts at zero: every output would be 0
        with torch.no_grad():
            for parameter in net.heads.parameters():
                parameter.normal_(0, 0.02)
    return net


def short(error: Exception) -> str:
    text = " ".join(str(error).split()).removeprefix("error: ")
    return text if len(text) <= 90 else text[:87] + "..."


def export_quietly(family: str, size: int, path: str, exporter: str):
    """Export ``family`` (random weights) at ``size`` x ``size`` to ``path`` by the
    TorchScript ("script", opset 17) or torch.export ("dynamo", opset 18) exporter;
    returns the input it was traced with."""
    import torch

    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(1))
    quiet_export(build(family), x, path, exporter)
    return x


def quiet_export(net, x, path: str, exporter: str) -> None:
    """``net`` traced with ``x`` to ``path`` by the TorchScript ("script", opset 17) or
    torch.export ("dynamo", opset 18) exporter, its narration silenced."""
    import torch

    # the exporters narrate (and dump whole graphs when they fail): keep it quiet
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (x,), path, dynamo=exporter == "dynamo",
                          opset_version=18 if exporter == "dynamo" else 17)


def onnxruntime_output(path: str, x: np.ndarray) -> np.ndarray:
    """The first output onnxruntime computes for the model's one input ``x``."""
    import onnx
    import onnxruntime as ort

    name = onnx.load(path, load_external_data=False).graph.input[0].name
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return session.run(None, {name: x})[0]


def cell(family: str, exporter: str, size: int, verify: bool, folder: str,
         int8: bool = False) -> list[str]:
    """[export, import, run, int8, compile dense, compile sparse, verify 2x2, verify 3x5]
    of one network and exporter."""
    import onnx
    import onnxruntime as ort

    from bsir.driver.compile import CompileOptions, compile_module
    from bsir.executor import run_module
    from bsir.onnx_import import import_onnx

    out = []
    path = os.path.join(folder, f"{family}.{exporter}.onnx")
    start = time.perf_counter()
    try:
        x = export_quietly(family, size, path, exporter)
    except Exception as error:  # an exporter failure is the exporter's, not bsir's
        return [f"export failed: {short(error)}", "-", "-", "-", "-", "-", "-", "-"]
    out.append(f"ok {time.perf_counter() - start:.1f}s")
    start = time.perf_counter()
    try:
        module, arrays = import_onnx(path)
    except Exception as error:
        return [*out, short(error), "-", "-", "-", "-", "-", "-"]
    out.append(f"ok {time.perf_counter() - start:.1f}s")
    name = onnx.load(path, load_external_data=False).graph.input[0].name
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    start = time.perf_counter()
    expected = session.run(None, {name: x.numpy()})[0]
    ort_s = time.perf_counter() - start
    start = time.perf_counter()
    try:
        got = run_module(module.clone(), arrays, [x.numpy().transpose(0, 2, 3, 1)])[0]
    except Exception as error:
        return [*out, short(error), "-", "-", "-", "-", "-"]
    error = float(np.abs(got - expected).max() / max(np.abs(expected).max(), 1e-30))
    verdict = "ok" if error <= 1e-4 else "DIFFERS"
    out.append(f"{verdict} {time.perf_counter() - start:.1f}s (ort {ort_s:.2f}s) "
               f"err {error:.0e}")
    sample = x.numpy().transpose(0, 2, 3, 1)
    out.append(int8_cell(module, arrays, sample, got) if int8 else "-")
    for sparsity in (0.0, 0.5):
        start = time.perf_counter()
        try:
            result = compile_module(module.clone(), arrays, "4x4",
                                    options=CompileOptions(sparsity=sparsity, quantize=False,
                                                           linear=family in TRANSFORMERS))
            out.append(f"failed: {short(Exception(result.failed))}" if result.failed else
                       f"ok {time.perf_counter() - start:.1f}s est "
                       f"{result.total_s * 1e3:.2f}ms")
        except Exception as error:
            out.append(short(error))
    for grid in ("2x2", "3x5"):
        if not verify:
            out.append("-")
            continue
        start = time.perf_counter()
        try:
            program = compile_module(module.clone(), arrays, grid,
                                     options=CompileOptions(calibration=(sample,)))
            if program.failed:
                out.append(f"failed: {short(Exception(program.failed))}")
                continue
            program.verify([sample])
            out.append(f"ok {time.perf_counter() - start:.1f}s")
        except Exception as error:
            out.append(short(error))
    return out


def int8_cell(module, arrays, sample: np.ndarray, expected: np.ndarray) -> str:
    """The INT8 graph, calibrated on another random input, against the float output."""
    from bsir.driver.compile import CompileOptions, quantize_module
    from bsir.executor import run_module

    start = time.perf_counter()
    calibration = np.random.default_rng(2).standard_normal(sample.shape, dtype=np.float32)
    try:
        quantized = module.clone()
        weights = quantize_module(quantized, arrays, CompileOptions(calibration=(calibration,)))
        got = run_module(quantized, weights, [sample])[0]
    except Exception as error:
        return short(error)
    error = float(np.abs(got - expected).max() / max(np.abs(expected).max(), 1e-30))
    top = "same" if np.argmax(got) == np.argmax(expected) else "differs"
    return f"ok {time.perf_counter() - start:.1f}s err {error:.2f}, top-1 {top}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="+", choices=FAMILIES,
                        default=[f for f in FAMILIES if f not in TRANSFORMERS],
                        help="default: the CNNs; the transformers by name")
    parser.add_argument("--exporters", nargs="+", choices=("script", "dynamo"),
                        default=["script", "dynamo"])
    parser.add_argument("--size", type=int, default=64, help="input height and width")
    parser.add_argument("--full", action="store_true",
                        help="each network's own input size (224, Inception-v3 299)")
    parser.add_argument("--int8", action="store_true", help="run the INT8 graph against float")
    parser.add_argument("--verify", action="store_true", help="simulate the INT8 program")
    args = parser.parse_args()
    sizes = "each network's own input size" if args.full else \
        f"input {args.size}x{args.size} (larger where a network needs it)"
    print(f"machine: {describe()}; {sizes}\n")
    header = ["family", "exporter", "export", "import", "run vs onnxruntime", "int8 vs float",
              "compile 4x4 dense", "compile 4x4 50 % sparse", "verify 2x2", "verify 3x5"]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for family in args.families:
            for exporter in args.exporters:
                size = (299 if family == "inception_v3" else 224) if args.full \
                    else max(args.size, SIZES.get(family, 0))
                rows.append([family, exporter,
                             *cell(family, exporter, size, args.verify, folder,
                                   args.int8)])
                print(" | ".join(rows[-1]), flush=True)
    print("\n| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    passed = sum(all(c.startswith("ok") or c == "-" for c in row[2:]) for row in rows)
    print(f"\n{passed} of {len(rows)} network x exporter pairs pass every stage run")


if __name__ == "__main__":
    main()
