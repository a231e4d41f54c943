"""Weights loaded ahead (``--overlap weights``) on Table 2's 42 cells: each network's time
with and without, the DDR time hidden, and the network's lower bound under each rule.

Baseline, computed in the same run: every cell compiled without overlap (the paper's
schedule, each layer loading its weights when it starts).

    python benchmarks/overlap.py [--jobs 2] [--models resnet50 ...]
"""

from __future__ import annotations

import argparse
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from machine import describe

from bsir.driver.table2 import MODELS, run_table2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--models", nargs="*", choices=MODELS)
    args = parser.parse_args()
    runs = {overlap: run_table2(args.jobs, args.models or None, cost_models=("honest",),
                                overlap=overlap)
            for overlap in ("none", "weights")}
    print(f"machine: {describe()}\n")
    header = (f"{'grid':<5}{'model':<13}{'':<7}{'none ms':>9}{'weights ms':>11}{'ratio':>7}"
              f"{'hidden ms':>10}{'bound ms':>10}{'bound/total':>12}")
    print(header)
    print("-" * len(header))
    ratios, slower = [], []
    for alone, ahead in zip(runs["none"], runs["weights"], strict=True):
        n = alone["grid"][0]
        kind = "sparse" if alone["sparsity"] else "dense"
        ratio = ahead["total_s"] / alone["total_s"]
        ratios.append(ratio)
        if ahead["total_s"] > alone["total_s"]:
            slower.append(f"{n}x{n} {alone['model']} {kind}")
        print(f"{n}x{n:<3}{alone['model']:<13}{kind:<7}{alone['total_s'] * 1e3:>9.3f}"
              f"{ahead['total_s'] * 1e3:>11.3f}{ratio:>7.3f}{ahead['hidden_ddr_s'] * 1e3:>10.3f}"
              f"{ahead['bound_s'] * 1e3:>10.3f}{ahead['bound_s'] / ahead['total_s']:>12.2f}")
    mean = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
    print(f"\nwith / without over {len(ratios)} cells: geometric mean {mean:.3f}, "
          f"best {min(ratios):.3f}, worst {max(ratios):.3f}; slower with overlap: "
          f"{', '.join(slower) or 'none'}")
    print("bound: the network's lower bound when weights may load under earlier layers "
          "(docs/design.md)")


if __name__ == "__main__":
    main()
