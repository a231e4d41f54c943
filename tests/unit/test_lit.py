"""Runs the lit + FileCheck suite under tests/filecheck as part of pytest."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

SUITE = Path(__file__).resolve().parents[1] / "filecheck"


def test_lit_suite():
    lit = shutil.which("lit") or os.path.join(os.path.dirname(sys.executable), "lit")
    bindir = os.path.dirname(sys.executable)
    env = {**os.environ, "PATH": bindir + os.pathsep + os.environ.get("PATH", "")}
    result = subprocess.run([lit, "-sv", str(SUITE)], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
