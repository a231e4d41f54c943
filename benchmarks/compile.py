"""Wall time of the user's two big commands, as a user runs them.

Baseline, measured in the same run: ``bsir models`` (Python and xDSL start-up plus
building the three networks' IR), which every command pays before any compiling.

Each command runs once untimed first, with Python allowed to write its bytecode
(``PYTHONDONTWRITEBYTECODE`` is dropped from the commands' environment): an installed
bsir has it, and a checkout whose sources changed would otherwise compile every
changed module again in each timed run.

    python benchmarks/compile.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from machine import describe

COMMANDS = [  # (label, arguments, target wall seconds or None)
    ("bsir models (baseline)", ["models"], None),
    ("bsir compile resnet50", ["compile", "resnet50"], 1.0),
    ("bsir compile resnet50 --sparsity 0.5", ["compile", "resnet50", "--sparsity", "0.5"],
     None),
    ("bsir compile vgg16 --grid 2x2", ["compile", "vgg16", "--grid", "2x2"], 2.0),
    ("bsir compile inception_v3 --grid 8x8", ["compile", "inception_v3", "--grid", "8x8"],
     None),
    ("bsir compile resnet50 --verify", ["compile", "resnet50", "--verify"], None),
    ("bsir table2 --jobs 2", ["table2", "--jobs", "2"], 20.0),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    bsir = shutil.which("bsir") or os.path.join(os.path.dirname(sys.executable), "bsir")
    print(f"machine: {describe()}")
    print(f"median of {args.repeat} runs\n")
    header = (f"{'command':<40}{'wall s':>9}{'x start-up':>12}{'target s':>10}"
              f"{'met':>6}")
    print(header)
    print("-" * len(header))
    baseline = None
    env = {key: value for key, value in os.environ.items()
           if key != "PYTHONDONTWRITEBYTECODE"}
    with tempfile.TemporaryDirectory() as folder:
        for label, argv, target in COMMANDS:
            subprocess.run([bsir, *argv], cwd=folder, check=True, capture_output=True,
                           env=env)  # untimed: bytecode written, files cached
            times = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                subprocess.run([bsir, *argv], cwd=folder, check=True, capture_output=True,
                               env=env)
                times.append(time.perf_counter() - start)
            median = statistics.median(times)
            baseline = median if baseline is None else baseline
            goal = "-" if target is None else f"{target:.1f}"
            met = "-" if target is None else ("yes" if median <= target else "no")
            print(f"{label:<40}{median:>9.2f}{median / baseline:>12.2f}{goal:>10}{met:>6}")


if __name__ == "__main__":
    main()
