"""Forward-pass time of the reference executor on a built-in model, float32 and int8.

Baseline, measured in the same run: the matrix products alone (one BLAS call per
convolution/linear layer, operands prepared beforehand) in the executor's arithmetic,
float32 for the float pass and float64 for int8's exact accumulation. The ratio shows
what im2col, pooling, requantization and bookkeeping add to BLAS.

    python benchmarks/executor.py [--model resnet50] [--repeat 5] [--sparsity 0.5]

With ``--sparsity`` the model is block-sparsified first (8x8 blocks, every convolution
but the first) and each pass is timed twice: with the block-sparse kernels
(bsir.kernels) on the sparse layers, and with dense products of the zero-filled weights.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from machine import describe
from timing import timed

from bsir.dialects import tg
from bsir.dialects.tg import only_graph
from bsir.driver.compile import CompileOptions, quantize_module
from bsir.executor import Executor, random_inputs
from bsir.models import build_model
from bsir.stats import layer_stats
from bsir.weights import materialize


def gemm_baseline(module, dtype, repeat: int) -> list[float]:
    """The time of the bare matrix products of every conv/linear layer."""
    rng = np.random.default_rng(0)
    operands = []
    for op in only_graph(module).block.ops:
        if isinstance(op, tg.WEIGHTED_OPS):
            out = tg.tensor_shape(op.output)
            w = tg.tensor_shape(op.weight)
            rows = int(np.prod(out[:-1]))
            depth = int(np.prod(w[1:]))
            operands.append((rng.standard_normal((rows, depth)).astype(dtype),
                             rng.standard_normal((depth, w[0])).astype(dtype)))

    def run() -> None:
        for a, b in operands:
            a @ b

    return timed(run, repeat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--sparsity", type=float, default=0.0)
    args = parser.parse_args()
    if args.sparsity > 0:
        sparse_comparison(args)
        return

    model = build_model(args.model)
    weights = materialize(model.specs, 0)
    inputs = random_inputs(model.module, seed=1)[0]
    macs = sum(s.macs for s in layer_stats(model.module))

    float_exec = Executor(model.module, weights)
    float_times = timed(lambda: float_exec.run(inputs), args.repeat)

    quantized = build_model(args.model).module
    int8_weights = quantize_module(quantized, weights, CompileOptions(calibration=tuple(inputs)))
    int8_exec = Executor(quantized, int8_weights)
    int8_times = timed(lambda: int8_exec.run(inputs), args.repeat)

    base32 = gemm_baseline(model.module, np.float32, args.repeat)
    base64 = gemm_baseline(model.module, np.float64, args.repeat)

    print(f"machine: {describe()}")
    print(f"model: {args.model}, {macs / 1e9:.2f} G multiply-accumulates, "
          f"median of {args.repeat} runs after one warm-up\n")
    header = f"{'pass':<10}{'executor s':>12}{'GMAC/s':>9}{'BLAS-only s':>13}{'overhead':>10}"
    print(header)
    print("-" * len(header))
    for name, times, base in (("float32", float_times, base32), ("int8", int8_times, base64)):
        median, floor = statistics.median(times), statistics.median(base)
        print(f"{name:<10}{median:>12.3f}{macs / median / 1e9:>9.1f}{floor:>13.3f}"
              f"{median / floor:>9.2f}x")


def sparse_comparison(args) -> None:
    """Executor time on the block-sparse model, the kernels on and off."""
    from xdsl.context import Context
    from xdsl.passes import PassPipeline

    from bsir.driver.compile import front_passes
    from bsir.driver.pipeline import apply_pipeline
    from bsir.kernels import backend
    from bsir.weights import current_weights, in_memory_weights

    rows = []
    for quantize in (False, True):
        model = build_model(args.model)
        inputs = random_inputs(model.module, seed=1)[0]
        options = CompileOptions(args.sparsity, calibration=tuple(inputs))
        with in_memory_weights(model.module, materialize(model.specs, 0)):
            apply_pipeline(PassPipeline(tuple(front_passes(options))), Context(), model.module)
            weights = current_weights(model.module)
        if quantize:
            weights = quantize_module(model.module, weights, options)
        on = Executor(model.module, weights)
        off = Executor(model.module, weights, block_sparse_kernels=False)
        t_on = statistics.median(timed(lambda e=on, x=inputs: e.run(x), args.repeat))
        t_off = statistics.median(timed(lambda e=off, x=inputs: e.run(x), args.repeat))
        rows.append(("int8" if quantize else "float32", t_off, t_on))
    print(f"machine: {describe()}, kernels: {backend()}")
    print(f"model: {args.model}, 8x8 blocks at {args.sparsity:.0%} sparsity on every "
          f"convolution but the first, median of {args.repeat} runs after one warm-up\n")
    header = f"{'pass':<10}{'dense products s':>18}{'block-sparse kernels s':>24}{'speed-up':>10}"
    print(header)
    print("-" * len(header))
    for name, t_off, t_on in rows:
        print(f"{name:<10}{t_off:>18.3f}{t_on:>24.3f}{t_off / t_on:>9.2f}x")


if __name__ == "__main__":
    main()
