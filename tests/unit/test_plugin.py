"""Third-party passes are found through entry points, without editing bsir."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "examples" / "bsir-plugin-example"

RELU6 = """builtin.module {
  tg.graph @g(%x: tensor<1x4x4x8xf32>) -> (tensor<1x4x4x8xf32>) {
    %r = tg.relu %x : (tensor<1x4x4x8xf32>) -> tensor<1x4x4x8xf32>
    %c = tg.clip %r {min = 0.0 : f32, max = 6.0 : f32}
           : (tensor<1x4x4x8xf32>) -> tensor<1x4x4x8xf32>
    tg.output %c : tensor<1x4x4x8xf32>
  }
}
"""


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory):
    """The example plugin installed (no deps, no network) into a private folder."""
    target = tmp_path_factory.mktemp("plugin-site")
    build = tmp_path_factory.mktemp("plugin-build")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
         "--no-build-isolation", "--target", str(target), str(PLUGIN)],
        capture_output=True, text=True, env={**os.environ, "TMPDIR": str(build)},
    )
    assert result.returncode == 0, result.stderr
    return target


def bsir_opt(site, *args, stdin=RELU6):
    path = os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path}
    return subprocess.run(
        [sys.executable, "-m", "bsir.tools.bsir_opt", *args],
        input=stdin, capture_output=True, text=True, env=env,
    )


def test_plugin_pass_is_listed_and_runs(plugin_site):
    listed = bsir_opt(plugin_site, "--list-passes")
    assert "example-fold-relu-into-clip" in listed.stdout.split()
    result = bsir_opt(plugin_site, "--pass-pipeline=builtin.module(example-fold-relu-into-clip)")
    assert result.returncode == 0, result.stderr
    assert "tg.relu" not in result.stdout
    assert "%c = tg.clip %x" in result.stdout


def test_without_the_plugin_the_pass_is_unknown():
    result = bsir_opt("", "-p", "example-fold-relu-into-clip")
    assert result.returncode == 1
    assert "unknown pass 'example-fold-relu-into-clip'" in result.stderr
