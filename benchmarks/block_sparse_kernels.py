"""Block-sparse x dense products on the CPU, and the paper's Figure 1.

In one run, on the same matrices: dense numpy (BLAS) on the zero-filled weight — the
baseline; bsir.kernels with 8x8, 4x4 and 1x1 blocks; torch.sparse BSR (8x8) and CSR
when torch is installed; scipy.sparse BSR (8x8) and CSR. Weights are random with a
random block mask at each density (8x8 blocks; the 4x4 and 1x1 runs get a mask of their
own block size at the same density), activations dense, float32.

Shapes: ResNet50 convolutions as COUT x CIN*KH*KW times CIN*KH*KW x H*W (taken from the
built-in model), and square 2048 and 4096 matrices; densities 10 - 90 %.

    python benchmarks/block_sparse_kernels.py [--quick] [--out benchmarks/results]

Prints one table per shape (median time of the repeats, and useful GFLOPS: 2 x the
multiply-adds of the kept weights per second), the targets of issue 8, and writes
``figure1.png`` (useful GFLOPS against useful multiply-adds, 1x1 and 8x8 blocks) and
``block_sparse_kernels.csv``.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
import warnings
from pathlib import Path

# PyTorch brings its own OpenMP runtime; threads of one spinning after a parallel region
# would steal the cores from the other's next one. Sleeping waiters keep the peers fair.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from machine import describe
from timing import median_time

from bsir import kernels
from bsir.compaction import pack
from bsir.dialects import tg
from bsir.dialects.tg import only_graph
from bsir.models import build_model

DENSITIES = (0.1, 0.25, 0.5, 0.75, 0.9)
METHODS = ("dense BLAS", "bsir 8x8", "bsir 4x4", "bsir 1x1", "torch BSR 8x8", "torch CSR",
           "scipy BSR 8x8", "scipy CSR")


def resnet50_shapes(count: int) -> list[tuple[str, int, int, int]]:
    """(name, M = COUT, K = CIN*KH*KW, N = H*W) of distinct ResNet50 convolutions."""
    seen, shapes = set(), []
    for op in only_graph(build_model("resnet50").module).block.ops:
        if isinstance(op, tg.Conv2dOp) and op.group_count == 1:
            cout, kh, kw, cin = tg.tensor_shape(op.weight)
            _, h, w, _ = tg.tensor_shape(op.output)
            key = (cout, cin * kh * kw, h * w)
            if key not in seen and cin >= 64:
                seen.add(key)
                shapes.append((f"resnet50 {kh}x{kw} {cin}->{cout} @{h}x{w}", *key))
    step = max(1, len(shapes) // count)
    return shapes[::step][:count]


def random_block_weight(rng, m: int, k: int, block: tuple[int, int],
                        density: float) -> tuple[np.ndarray, np.ndarray]:
    """A float32 weight whose blocks outside a random mask (exact density) are zero."""
    rows, cols = -(-m // block[0]), -(-k // block[1])
    keep = max(1, round(rows * cols * density))
    mask = np.zeros(rows * cols, dtype=bool)
    mask[rng.choice(rows * cols, keep, replace=False)] = True
    mask = mask.reshape(rows, cols)
    element = np.repeat(np.repeat(mask, block[0], 0), block[1], 1)[:m, :k]
    return (rng.standard_normal((m, k)) * element).astype(np.float32), mask


def methods_for(weight: np.ndarray, masks: dict, x: np.ndarray, slow: bool) -> dict:
    """Callables computing weight @ x, by method name (peers only where installed)."""
    out = {"dense BLAS": lambda: weight @ x}
    for block, (w, mask) in masks.items():
        packed = pack(w, mask, block)
        out[f"bsir {block[0]}x{block[1]}"] = (lambda p=packed: kernels.bsr_matmul(p, x))
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        torch.set_num_threads(os.cpu_count() or 1)
        xt, wt = torch.from_numpy(x), torch.from_numpy(weight)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "BSR support is in beta"
            bsr, csr = wt.to_sparse_bsr((8, 8)), wt.to_sparse_csr()
        out["torch BSR 8x8"] = lambda: bsr @ xt
        out["torch CSR"] = lambda: csr @ xt
    if slow:
        import scipy.sparse

        bsr_s = scipy.sparse.bsr_matrix(weight, blocksize=(8, 8))
        csr_s = scipy.sparse.csr_matrix(weight)
        out["scipy BSR 8x8"] = lambda: bsr_s @ x
        out["scipy CSR"] = lambda: csr_s @ x
    return out


def run(shapes, densities, repeat: int, scipy_limit: float) -> list[dict]:
    rows = []
    rng = np.random.default_rng(0)
    for name, m, k, n in shapes:
        x = rng.standard_normal((k, n)).astype(np.float32)
        for density in densities:
            weight, mask = random_block_weight(rng, m, k, (8, 8), density)
            masks = {(8, 8): (weight, mask)}
            for block in ((4, 4), (1, 1)):
                masks[block] = random_block_weight(rng, m, k, block, density)
            useful = {b: float(np.count_nonzero(w)) * n for b, (w, _) in masks.items()}
            slow = m * k * n <= scipy_limit
            reference = weight.astype(np.float64) @ x
            for method, function in methods_for(weight, masks, x, slow).items():
                seconds = median_time(function, repeat if m * k * n < 2**31 else 1)
                block = next((b for b in masks if f"{b[0]}x{b[1]}" in method
                              and method.startswith("bsir")), (8, 8))
                macs = useful[block] if method.startswith("bsir") else useful[(8, 8)]
                if method in ("dense BLAS", "bsir 8x8", "torch BSR 8x8", "scipy BSR 8x8"):
                    got = np.asarray(function())
                    error = np.abs(got - reference).max() / np.abs(reference).max()
                    assert error < 1e-4, f"{method} on {name} is wrong ({error:.1e})"
                rows.append({"shape": name, "m": m, "k": k, "n": n, "density": density,
                             "method": method, "seconds": seconds, "useful_macs": macs,
                             "useful_gflops": 2 * macs / seconds / 1e9})
            print(f"  {name} density {density:.2f} done", file=sys.stderr)
    return rows


def table(rows: list[dict], shape: str) -> str:
    mine = [r for r in rows if r["shape"] == shape]
    methods = [m for m in METHODS if any(r["method"] == m for r in mine)]
    densities = sorted({r["density"] for r in mine})
    head = f"{'density':>8}" + "".join(f"{m:>16}" for m in methods)
    lines = [head, "-" * len(head)]
    for d in densities:
        cells = {r["method"]: r for r in mine if r["density"] == d}
        dense = cells["dense BLAS"]["seconds"]
        line = f"{d:>8.2f}"
        for method in methods:
            r = cells.get(method)
            line += f"{'-':>16}" if r is None else \
                f"{r['seconds'] * 1e3:>8.1f}ms {dense / r['seconds']:>5.2f}x"
        lines.append(line)
    return "\n".join(lines)


def targets(rows: list[dict]) -> list[str]:
    """Issue 8's three targets, on the square matrices at 50 % density."""
    out = []
    for r in (r for r in rows if r["method"] == "bsir 8x8" and r["density"] == 0.5
              and r["shape"].startswith("square")):
        same = {x["method"]: x for x in rows if x["shape"] == r["shape"] and
                x["density"] == 0.5}
        dense = same["dense BLAS"]["seconds"] / r["seconds"]
        fine = r["useful_gflops"] / same["bsir 1x1"]["useful_gflops"]
        line = (f"{r['shape']}: 8x8 vs dense BLAS {dense:.2f}x (target > 1); useful GFLOPS "
                f"8x8 / 1x1 {fine:.1f}x (target >= 5)")
        if "scipy BSR 8x8" in same:
            line += f"; vs scipy BSR {same['scipy BSR 8x8']['seconds'] / r['seconds']:.1f}x " \
                    "(target >= 5)"
        if "torch BSR 8x8" in same:
            line += f"; vs torch BSR {same['torch BSR 8x8']['seconds'] / r['seconds']:.1f}x"
        out.append(line)
    return out


def figure1(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5))
    styles = {"bsir 8x8": ("tab:red", "s"), "bsir 1x1": ("tab:blue", "o"),
              "dense BLAS": ("gray", "x")}
    for method, (color, marker) in styles.items():
        points = [r for r in rows if r["method"] == method]
        axes.scatter([r["useful_macs"] for r in points],
                     [r["useful_gflops"] for r in points], color=color, marker=marker,
                     label=method + (" (useful work only)" if method == "dense BLAS" else ""),
                     alpha=0.8)
    axes.set_xscale("log")
    axes.set_xlabel("useful multiply-adds")
    axes.set_ylabel("useful GFLOPS")
    axes.set_title("Block-sparse x dense on the CPU: 8x8 blocks vs 1x1 (Figure 1)")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two shapes, three densities")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    shapes = resnet50_shapes(2 if args.quick else 6)
    shapes += [("square 2048", 2048, 2048, 2048)] + \
        ([] if args.quick else [("square 4096", 4096, 4096, 4096)])
    densities = (0.1, 0.5, 0.9) if args.quick else DENSITIES
    start = time.perf_counter()
    rows = run(shapes, densities, args.repeat, scipy_limit=2048**3)
    elapsed = time.perf_counter() - start
    with open(out / "block_sparse_kernels.csv", "w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    figure1(rows, out / "figure1.png")
    print(f"machine: {describe()}; bsir kernels: {kernels.backend()}; {elapsed:.0f} s")
    print("each cell: median time and speed-up over dense BLAS on the same matrices\n")
    for name, *_ in shapes:
        print(f"{name}\n{table(rows, name)}\n")
    print("\n".join(targets(rows)))
    print(f"\nwrote {out / 'figure1.png'} and {out / 'block_sparse_kernels.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
