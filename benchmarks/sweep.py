"""`bsir sweep` at scale: one process against the local pool and a local Ray instance.

The same ~500 configurations (three small built-in networks x every grid from 1x1 to
8x7 x three sparsities, by default) are swept three times into fresh folders: in this
process (the baseline), on a local process pool of ``--jobs`` workers, and on a Ray
instance of ``--jobs`` CPUs (when Ray is installed), started before its run as a
cluster would be; its start-up is reported apart. The rows must be identical; the table
gives each run's wall time and speed-up.

    python benchmarks/sweep.py [--jobs 2] [--models tiny_cnn tiny_resnet ...]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from machine import describe

from bsir.driver.sweep import RowStore, parse_spec, run_sweep


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--models", nargs="+",
                        default=["tiny_cnn", "tiny_resnet", "tiny_inception"])
    parser.add_argument("--grids", default="1..8x1..7")
    parser.add_argument("--sparsities", type=float, nargs="+", default=[0.0, 0.5, 0.75])
    args = parser.parse_args()
    configs = parse_spec({"models": args.models, "grids": [args.grids],
                          "sparsities": args.sparsities})
    print(describe())
    print(f"{len(configs)} configurations: {' '.join(args.models)} x {args.grids} x "
          f"sparsities {args.sparsities}\n")
    runs = [("one process", {"jobs": 1}), (f"local pool, {args.jobs} workers",
                                           {"jobs": args.jobs})]
    try:
        import ray
        runs.append((f"Ray, running instance of {args.jobs} CPUs",
                     {"jobs": args.jobs, "ray": "local"}))
    except ImportError:
        ray = None
        print("(Ray is not installed: its run is skipped)")
    started = 0.0
    root = tempfile.mkdtemp(prefix="bsir-sweep-bench-")
    try:
        results = []
        for label, options in runs:
            folder = os.path.join(root, str(len(results)))
            if "ray" in options:  # the cluster is up before the sweep, as a cluster is
                start = time.perf_counter()
                ray.init(num_cpus=args.jobs, include_dashboard=False, log_to_driver=False)
                started = time.perf_counter() - start
            start = time.perf_counter()
            try:
                summary = run_sweep(configs, folder, **options)
            finally:
                if "ray" in options:
                    ray.shutdown()
            wall = time.perf_counter() - start
            results.append((label, wall, summary.failed, RowStore(folder).rows))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    base_wall, base_rows = results[0][1], results[0][3]
    print(f"{'run':<36}{'wall s':>9}{'speed-up':>10}{'failed':>8}  rows equal to baseline")
    print("-" * 80)
    for label, wall, failed, rows in results:
        same = "yes" if rows == base_rows else "NO"
        print(f"{label:<36}{wall:>9.1f}{base_wall / wall:>9.2f}x{failed:>8}  {same}")
    pool = results[1][1]
    if len(results) > 2:
        print(f"\nRay / local pool: {results[2][1] / pool:.2f}x the pool's wall time "
              f"(starting the Ray instance took {started:.1f} s more)")


if __name__ == "__main__":
    main()
