"""Instructions a bsir command executes, at a baseline commit and at the working tree.

Counted by valgrind (``--tool=callgrind``), which the machine's load does not change,
with ``PYTHONHASHSEED=0`` and bytecode written (each tree runs once untimed first, as an
installed bsir has its bytecode). Each revision runs as its own console script did:
``bsir.tools.commands`` where the revision has it, else ``bsir.tools.bsir_cli.main``.
The baseline is checked out with ``git worktree`` and laid out as an installed package
(the ``package-dir`` table of its pyproject.toml), so both trees run with this
environment's numpy and xDSL.

    python benchmarks/compile_instructions.py [--baseline 12063e9] [--runs N] [compile resnet50]

One tree's count moves by up to ~20 M from run to run (0.6 % of ``compile resnet50``);
``--runs N`` counts each tree N times, in turn, and prints the means with the spread.

12063e9 is the last commit before the mapping search (the issue's baseline).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import tomllib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from machine import describe

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN = """import importlib.util, sys
sys.argv = ["bsir", *sys.argv[1:]]
if importlib.util.find_spec("bsir.tools.commands") is not None:
    from bsir.tools.commands import bsir as entry
else:
    from bsir.tools.bsir_cli import main as entry
sys.exit(entry())
"""


def package_tree(source: str, into: str) -> str:
    """Lay ``source`` (a checkout) out under ``into`` as its pyproject installs it."""
    with open(os.path.join(source, "pyproject.toml"), "rb") as stream:
        folders = tomllib.load(stream)["tool"]["setuptools"]["package-dir"]
    for package, folder in sorted(folders.items(), key=lambda item: item[0].count(".")):
        target = os.path.join(into, *package.split("."))
        if package == "bsir":
            shutil.copytree(os.path.join(source, folder), target,
                            ignore=shutil.ignore_patterns("__pycache__"))
        else:
            os.symlink(os.path.join(source, folder), target)
    return into


def environment(tree: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if key != "PYTHONDONTWRITEBYTECODE"}
    env.update(PYTHONPATH=tree, PYTHONHASHSEED="0")
    return env


def warm(tree: str, runner: str, argv: list[str]) -> None:
    """One untimed run: the tree's bytecode written, as an installed bsir has it."""
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run([sys.executable, runner, *argv], cwd=folder, env=environment(tree),
                       check=True, capture_output=True)


def instructions(tree: str, runner: str, argv: list[str]) -> int:
    """The instructions of one run of the command with ``tree`` installed."""
    with tempfile.TemporaryDirectory() as folder:
        done = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                               sys.executable, runner, *argv], cwd=folder,
                              env=environment(tree), check=True, capture_output=True,
                              text=True)
    match = re.search(r"Collected : (\d+)", done.stderr)
    if match is None:
        raise SystemExit(f"valgrind printed no count:\n{done.stderr[-2000:]}")
    return int(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="12063e9")
    parser.add_argument("--runs", type=int, default=1,
                        help="runs of each tree, taken in turn (default 1)")
    parser.add_argument("command", nargs="*", default=["compile", "resnet50"])
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    if args.runs < 1:
        raise SystemExit("--runs takes a positive count")
    print(f"machine: {describe()}")
    print(f"bsir {' '.join(args.command)}: instructions (valgrind, PYTHONHASHSEED=0)\n")
    with tempfile.TemporaryDirectory() as scratch:
        runner = os.path.join(scratch, "run_bsir.py")
        with open(runner, "w", encoding="utf-8") as stream:
            stream.write(RUN)
        checkout = os.path.join(scratch, "baseline")
        subprocess.run(["git", "-C", ROOT, "worktree", "add", "--detach", "--quiet", checkout,
                        args.baseline], check=True)
        try:
            rows = [(args.baseline, package_tree(checkout, os.path.join(scratch, "old"))),
                    ("working tree", package_tree(ROOT, os.path.join(scratch, "new")))]
            for _, tree in rows:
                warm(tree, runner, args.command)
            counts: dict[str, list[int]] = {label: [] for label, _ in rows}
            for _ in range(args.runs):  # in turn: a drift in the machine hits both
                for label, tree in rows:
                    counts[label].append(instructions(tree, runner, args.command))
        finally:
            subprocess.run(["git", "-C", ROOT, "worktree", "remove", "--force", checkout],
                           check=False)
    base = statistics.mean(counts[args.baseline])
    print(f"{'revision':<16}{'instructions':>16}{'vs baseline':>14}"
          + (f"{'fewest':>16}{'most':>16}" if args.runs > 1 else ""))
    for label, runs in counts.items():
        mean = statistics.mean(runs)
        spread = f"{min(runs):>16,}{max(runs):>16,}" if args.runs > 1 else ""
        print(f"{label:<16}{round(mean):>16,}{mean / base:>13.3f}x{spread}")
    if args.runs > 1:
        print(f"\n(means of {args.runs} runs of each tree, taken in turn)")


if __name__ == "__main__":
    main()
