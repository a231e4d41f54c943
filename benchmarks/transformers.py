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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="+", choices=TRANSFORMERS, default=TRANSFORMERS)
    parser.add_argument("--grids", nargs="+", default=["4x4", "8x8"])
    args = parser.parse_args()

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
