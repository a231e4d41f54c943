"""Compilations the report tests draw (unit tests and browser tests)."""

from __future__ import annotations

from bsir.driver.compile import CompileOptions, CompileResult, compile_module
from bsir.models import build_model
from bsir.weights import materialize


def compiled(model: str, grid: str = "2x2", sparsity: float = 0.0,
             cost_model: str = "honest", overlap: str = "none") -> CompileResult:
    """``model`` (built-in, seed 0) compiled onto ``grid``."""
    built = build_model(model)
    return compile_module(built.module, materialize(built.specs, 0), grid,
                          options=CompileOptions(sparsity=sparsity, cost_model=cost_model,
                                                 overlap=overlap))


def small_table2_cells() -> list[dict]:
    """Table 2 cells of tiny_cnn on 2x2 and 3x3, dense and sparse, under both cost
    models, as run_table2 makes them; the paper's figure is 1.5x our convolutional part
    under bsir's rules, and missing ("failed") for dense 3x3."""
    cells = []
    for n in (2, 3):
        for sparsity in (0.0, 0.5):
            honest = compiled("tiny_cnn", f"{n}x{n}", sparsity).summary()
            paper = None if (n, sparsity) == (3, 0.0) else honest["conv_s"] * 1.5
            for cell in (honest, compiled("tiny_cnn", f"paper-{n}x{n}", sparsity,
                                          "paper").summary()):
                cell["paper_s"] = paper
                cell["ratio_to_paper"] = cell["conv_s"] / paper if paper else None
                cell["paper_schedule_s"] = None
                cells.append(cell)
    return cells
