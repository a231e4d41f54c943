"""lit configuration: every .mlir file here is a test of bsir-opt / bsir with FileCheck."""

import os

import lit.formats

config.name = "bsir"
config.test_format = lit.formats.ShTest()
config.suffixes = [".mlir", ".test"]
config.test_source_root = os.path.dirname(__file__)
config.excludes = ["lit.cfg.py", "Inputs"]
# bsir-opt, bsir and filecheck come from the active environment.
config.environment["PATH"] = os.environ.get("PATH", "")
for name in ("PYTHONPATH", "HOME", "VIRTUAL_ENV"):
    if name in os.environ:
        config.environment[name] = os.environ[name]
