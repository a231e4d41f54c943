"""The native block-sparse kernels (bsir/kernels/_bsr.c); everything else is in
pyproject.toml. The extension is optional: without a C compiler bsir installs and
bsir.kernels falls back to numpy."""

import sys

from setuptools import Extension, setup

openmp = [] if sys.platform == "darwin" else ["-fopenmp"]

setup(ext_modules=[Extension(
    "bsir.kernels._bsr", ["bsir/kernels/_bsr.c"],
    extra_compile_args=["-O3", "-std=c11", *openmp], extra_link_args=openmp, optional=True,
)])
