"""Compiling a small network for the array on one seeded input it is calibrated on."""

import numpy as np

from bsir.driver.compile import CompileOptions, CompileResult, compile_module


def compile_calibrated(built, arrays, grid: str, shape: tuple[int, ...], seed: int = 1
                       ) -> tuple[CompileResult, np.ndarray]:
    """``built`` (a copy) compiled for ``grid``, INT8 calibrated on a standard normal input
    of ``shape`` drawn with ``seed``; the result (checked to fit) and that input."""
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    result = compile_module(built.module.clone(), arrays, grid,
                            options=CompileOptions(calibration=(x,)))
    assert result.failed is None
    return result, x
