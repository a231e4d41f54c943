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

Needs the ``train`` extra and torchvision (see benchmarks/model_zoo.py).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from machine import describe
from model_zoo import TRANSFORMERS, export_quietly

KINDS = {"tg.batch_matmul": "attention", "tg.softmax": "attention", "tg.matmul": "linear",
         "tg.layer_norm": "norms", "tg.conv2d": "convolutions", "tg.transpose": "moves",
         "tg.slice": "moves"}
COLUMNS = ("attention", "linear", "norms", "convolutions", "moves", "other")


def breakdown(result) -> dict[str, float]:
    """Milliseconds per layer kind of one compilation."""
    spent: dict[str, float] = defaultdict(float)
    for layer in result.layers:
        spent[KINDS.get(layer.op, "other")] += layer.total_s * 1e3
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="+", choices=TRANSFORMERS, default=TRANSFORMERS)
    parser.add_argument("--grids", nargs="+", default=["4x4", "8x8"])
    args = parser.parse_args()

    from bsir.diagnostics import BsirError
    from bsir.driver.compile import CompileOptions, compile_module
    from bsir.onnx_import import import_onnx

    print(f"machine: {describe()}; input 224x224, TorchScript export, random weights\n")
    header = ["family", "grid", "weights", "total ms", *[f"{c} ms" for c in COLUMNS],
              "compile s"]
    rows, failures = [], []
    with tempfile.TemporaryDirectory() as folder:
        for family in args.families:
            path = os.path.join(folder, f"{family}.onnx")
            export_quietly(family, 224, path, "script")
            module, arrays = import_onnx(path)
            for grid in args.grids:
                dense_ms = None
                for sparsity in (0.0, 0.5):
                    start = time.perf_counter()
                    try:
                        result = compile_module(module.clone(), arrays, grid,
                                                options=CompileOptions(sparsity=sparsity,
                                                                       linear=True,
                                                                       quantize=False))
                    except BsirError as error:  # an op the array does not map yet
                        failures.append(f"{family}: {error.message}")
                        break
                    seconds = time.perf_counter() - start
                    if result.failed:
                        failures.append(f"{family} {grid}: {result.failed}")
                        break
                    spent = breakdown(result)
                    total = result.total_s * 1e3
                    label = "dense" if sparsity == 0 else \
                        f"8x8 50 % ({total / dense_ms:.2f}x dense)"
                    dense_ms = total if sparsity == 0 else dense_ms
                    rows.append([family, grid, label, f"{total:.2f}",
                                 *[f"{spent.get(c, 0.0):.2f}" for c in COLUMNS],
                                 f"{seconds:.1f}"])
                    print(" | ".join(rows[-1]), flush=True)
                else:
                    continue
                break
    print("\n| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    for failure in failures:
        print(f"\nnot mapped: {failure}")


if __name__ == "__main__":
    main()
