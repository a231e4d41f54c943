"""The lit + FileCheck suite under tests/filecheck, one pytest test per file, so that a
failure names its file and the rest still run."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SUITE = Path(__file__).resolve().parents[1] / "filecheck"
SKIP = {"Inputs", "Output"}
FILES = sorted(
    path for path in SUITE.rglob("*")
    if path.suffix in (".mlir", ".test") and not SKIP & set(path.relative_to(SUITE).parts)
)


def test_every_pass_has_its_lit_test():
    from bsir.passes import PASS_MODULES

    tested = {path.stem for path in (SUITE / "passes").glob("*.mlir")}
    assert set(PASS_MODULES) <= tested


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(SUITE)) for p in FILES])
def test_lit_file(path):
    lit = shutil.which("lit") or os.path.join(os.path.dirname(sys.executable), "lit")
    bindir = os.path.dirname(sys.executable)
    env = {**os.environ, "PATH": bindir + os.pathsep + os.environ.get("PATH", "")}
    result = subprocess.run([lit, "-sv", str(path)], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
