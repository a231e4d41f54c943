"""Estimated time of torchvision's transformers on the AIE2 array, dense and block-sparse,
with where the time goes.

For each family (exported by TorchScript with random weights, seed 0, at its own input
size: 224x224), each grid and dense or with 8x8 blocks at 50 % on every convolution but
the first and every linear layer: ``bsir compile``'s estimate, split by layer kind
(attention: the products of activations and softmax; linear layers; layer norms;
convolutions; transposes and slices; the rest: additions, products by constants,
pooling, standalone GELU). A family whose graph holds an op the array does not map yet
says which. Baseline in the same run: the dense estimate beside each sparse one.

    python benchmarks/transformers.py [--families convnext_tiny vit_b_16 ...]
                                      [--grids 4x4 8x8]
    python benchmarks/transformers.py --verify [--grids 3x5] [--exporters script dynamo]

``--verify``: each family at a reduced size (:data:`REDUCED`: the same layers, widths,
heads and windows, fewer blocks or a smaller image), exported by each exporter, runs
within 1e-4 of onnxruntime, then compiles in INT8 (calibrated on its input; 8x8 blocks
at 50 % as above) and its simulated program is compared with the reference executor,
bit for bit, layer by layer.

Needs the ``train`` extra and torchvision (see benchmarks/model_zoo.py).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import defaultdict

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from machine import describe
from model_zoo import TRANSFORMERS, export_quietly

KINDS = {"tg.batch_matmul": "attention", "tg.softmax": "attention", "tg.matmul": "linear",
         "tg.layer_norm": "norms", "tg.conv2d": "convolutions", "tg.transpose": "moves",
         "tg.slice": "moves"}
COLUMNS = ("attention", "linear", "norms", "convolutions", "moves", "other")


def breakdown(result) -> dict[str, float]:
    """Milliseconds per layer kind of one compilation (a layer with a fused addition or
    activation counts as its host: ``tg.matmul+add`` is linear)."""
    spent: dict[str, float] = defaultdict(float)
    for layer in result.layers:
        spent[KINDS.get(layer.op.split("+")[0], "other")] += layer.total_s * 1e3  # by host
    return spent


def family_rows(family: str, module, arrays, grids: list[str]) -> tuple[list[list[str]], str]:
    """The table rows of one imported family (each grid, dense then sparse), or the
    reason it does not compile (an op the array does not map yet)."""
    from bsir.diagnostics import BsirError
    from bsir.driver.compile import CompileOptions, compile_module

    rows = []
    for grid in grids:
        dense_ms = None
        for sparsity in (0.0, 0.5):
            start = time.perf_counter()
            options = CompileOptions(sparsity=sparsity, linear=True, quantize=False)
            try:
                result = compile_module(module.clone(), arrays, grid, options=options)
            except BsirError as error:
                return rows, f"{family}: {error.message}"
            if result.failed:
                return rows, f"{family} {grid}: {result.failed}"
            seconds = time.perf_counter() - start
            spent = breakdown(result)
            total = result.total_s * 1e3
            if dense_ms is None:
                dense_ms, label = total, "dense"
            else:
                label = f"8x8 50 % ({total / dense_ms:.2f}x dense)"
            rows.append([family, grid, label, f"{total:.2f}",
                         *[f"{spent.get(c, 0.0):.2f}" for c in COLUMNS], f"{seconds:.1f}"])
            print(" | ".join(rows[-1]), flush=True)
    return rows, ""


REDUCED = {
    "vit_b_16": (64, "12 blocks of 768 features and 12 heads, as ViT-B/16; a 64x64 image "
                     "(16 patches and the class token)"),
    "swin_t": (224, "Swin-T's stages, widths, heads and 7x7 windows, one pair of blocks "
                    "(plain and shifted windows) a stage instead of 2, 2, 6, 2"),
    "convnext_tiny": (64, "ConvNeXt-T whole, on a 64x64 image"),
    "maxvit_t": (224, "MaxViT-T's stages, widths and 7x7 partitions, one block a stage "
                      "instead of 2, 2, 5, 2"),
}
"""The size each family is verified at, and what it keeps of the full network."""


def reduced(family: str):
    """The reduced network of ``family`` (random weights, seed 0) and its input size."""
    import torch
    from model_zoo import build, torchvision_models

    models = torchvision_models()
    torch.manual_seed(0)
    if family == "vit_b_16":
        net = models.vit_b_16(image_size=REDUCED[family][0])
        with torch.no_grad():  # its classifier starts at zero: every output would be 0
            for parameter in net.heads.parameters():
                parameter.normal_(0, 0.02)
    elif family == "swin_t":
        net = models.swin_transformer.SwinTransformer(
            [4, 4], 96, [2, 2, 2, 2], [3, 6, 12, 24], [7, 7], stochastic_depth_prob=0.0)
    elif family == "maxvit_t":
        net = models.maxvit.MaxVit((224, 224), 64, 7, [64, 128, 256, 512], [1, 1, 1, 1], 32,
                                   stochastic_depth_prob=0.0)
    else:
        net = build(family)
    return net.eval(), REDUCED[family][0]


def verify_rows(family: str, exporters: list[str], grids: list[str], folder: str
                ) -> list[list[str]]:
    """[family, exporter, error vs onnxruntime, grid, layers, values, compile s,
    simulate s] of the reduced network, or the first failure."""
    import torch
    from model_zoo import onnxruntime_output, quiet_export

    from bsir.diagnostics import BsirError
    from bsir.driver.compile import CompileOptions, compile_module
    from bsir.executor import run_module
    from bsir.onnx_import import import_onnx

    net, size = reduced(family)
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(1))
    sample = x.numpy().transpose(0, 2, 3, 1)
    rows = []
    for exporter in exporters:
        path = os.path.join(folder, f"{family}.{exporter}.onnx")
        quiet_export(net, x, path, exporter)
        module, arrays = import_onnx(path)
        expected = onnxruntime_output(path, x.numpy())
        got = run_module(module.clone(), arrays, [sample])[0]
        error = float(np.abs(got - expected).max() / np.abs(expected).max())
        for grid in grids:
            start = time.perf_counter()
            try:
                program = compile_module(module.clone(), arrays, grid, options=CompileOptions(
                    sparsity=0.5, linear=True, calibration=(sample,)))
                if program.failed:
                    raise BsirError(program.failed)
                compiled = time.perf_counter() - start
                report = program.verify([sample])
                row = [f"{report.layers}", f"{report.elements:,}", f"{compiled:.1f} s",
                       f"{report.simulation_s:.1f} s"]
            except BsirError as error_:
                row = [f"failed: {error_.message}", "-", "-", "-"]
            rows.append([family, exporter, f"{error:.0e}", grid, *row])
            print(" | ".join(rows[-1]), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="+", choices=TRANSFORMERS, default=TRANSFORMERS)
    parser.add_argument("--grids", nargs="+")
    parser.add_argument("--verify", action="store_true",
                        help="reduced networks in INT8, simulated bit for bit")
    parser.add_argument("--exporters", nargs="+", choices=("script", "dynamo"),
                        default=["script", "dynamo"])
    args = parser.parse_args()

    from bsir.onnx_import import import_onnx

    if args.verify:
        print(f"machine: {describe()}; reduced networks, random weights, INT8\n")
        header = ["family", "exporter", "error vs onnxruntime", "grid", "layers checked",
                  "values checked", "compile", "simulation"]
        rows = []
        with tempfile.TemporaryDirectory() as folder:
            for family in args.families:
                rows += verify_rows(family, args.exporters, args.grids or ["3x5"], folder)
        print("\n| " + " | ".join(header) + " |\n|" + "---|" * len(header))
        for row in rows:
            print("| " + " | ".join(row) + " |")
        for family in args.families:
            print(f"\n{family}: {REDUCED[family][1]}")
        return
    args.grids = args.grids or ["4x4", "8x8"]

    print(f"machine: {describe()}; input 224x224, TorchScript export, random weights\n")
    header = ["family", "grid", "weights", "total ms", *[f"{c} ms" for c in COLUMNS],
              "compile s"]
    rows, failures = [], []
    with tempfile.TemporaryDirectory() as folder:
        for family in args.families:
            path = os.path.join(folder, f"{family}.onnx")
            export_quietly(family, 224, path, "script")
            module, arrays = import_onnx(path)
            family_table, failure = family_rows(family, module, arrays, args.grids)
            rows += family_table
            if failure:
                failures.append(failure)
    print("\n| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    for failure in failures:
        print(f"\nnot mapped: {failure}")


if __name__ == "__main__":
    main()
