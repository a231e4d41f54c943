"""Forward-pass time of the reference executor on a built-in model, float32 and int8.

Baseline, measured in the same run: the matrix products alone (one BLAS call per
convolution/linear layer, operands prepared beforehand) in the executor's arithmetic,
float32 for the float pass and float64 for int8's exact accumulation. The ratio shows
what im2col, pooling, requantization and bookkeeping add to BLAS.

    python benchmarks/executor.py [--model resnet50] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from machine import describe

from bsir.dialects import tg
from bsir.executor import Executor, random_inputs
from bsir.models import build_model
from bsir.passes.tg_fold_batchnorm import fold_batchnorms
from bsir.passes.tg_quantize import TgQuantizePass
from bsir.stats import layer_stats, only_graph
from bsir.weights import materialize


def timed(function, repeat: int) -> list[float]:
    function()  # warm up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return times


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
    args = parser.parse_args()

    model = build_model(args.model)
    weights = materialize(model.specs, 0)
    inputs = random_inputs(model.module, seed=1)[0]
    macs = sum(s.macs for s in layer_stats(model.module))

    float_exec = Executor(model.module, weights)
    float_times = timed(lambda: float_exec.run(inputs), args.repeat)

    quantized = build_model(args.model).module
    int8_weights = fold_batchnorms(quantized, weights)
    int8_weights = TgQuantizePass().quantize(quantized, int8_weights, [inputs])
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


if __name__ == "__main__":
    main()
