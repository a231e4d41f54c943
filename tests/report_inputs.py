"""Compilations the report tests draw (unit tests and browser tests)."""

from __future__ import annotations

from bsir.driver.compile import CompileOptions, CompileResult, compile_module
from bsir.models import build_model
from bsir.weights import materialize


def compiled(model: str, grid: str = "2x2", sparsity: float = 0.0) -> CompileResult:
    """``model`` (built-in, seed 0) compiled onto ``grid``."""
    built = build_model(model)
    return compile_module(built.module, materialize(built.specs, 0), grid,
                          options=CompileOptions(sparsity=sparsity))


def small_table2_cells() -> list[dict]:
    """Table 2 cells of tiny_cnn on 2x2 and 3x3, dense and sparse, as run_table2 makes
    them; the paper's figure is 1.5x ours, and missing ("failed") for dense 3x3."""
    cells = []
    for n in (2, 3):
        for sparsity in (0.0, 0.5):
            cell = compiled("tiny_cnn", f"{n}x{n}", sparsity).summary()
            cell["paper_s"] = None if (n, sparsity) == (3, 0.0) else cell["total_s"] * 1.5
            cells.append(cell)
    return cells
