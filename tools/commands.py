"""The installed console scripts, ``bsir`` and ``bsir-opt``.

A command is a short process that imports a few hundred modules and then builds an IR
of a few thousand objects. Python's cyclic garbage collector would scan what the
imports build again and again while it grows (~90 collections, 2-3 % of a compile)
although none of it is ever garbage. So the entry points import the tool with the
collector off, ``gc.freeze()`` what the imports built (the collector never scans it
again), and let the collector run on the rest only every :data:`YOUNG_OBJECTS`
allocations rather than every 700 (mypy does the same). This module imports nothing
else, so that it can do this before the tool's imports.
"""

from __future__ import annotations

import gc
from importlib import import_module

YOUNG_OBJECTS = 100_000
"""Allocations between two collections of the youngest generation while a command
runs (Python's default: 700). Compiling ResNet50 then collects twice instead of 90
(8 times at 10,000), its peak memory unchanged (43.7 MB resident); a collection
still comes every 100,000 objects (~10 MB), so a long run's cycles are freed."""


def _run(module: str) -> int:
    """Import the tool ``module`` with the collector off and freeze what it built; run
    its ``main``."""
    gc.disable()
    try:
        main = import_module(module).main
    finally:
        gc.freeze()
        gc.set_threshold(YOUNG_OBJECTS, *gc.get_threshold()[1:])
        gc.enable()
    return main()


def bsir() -> int:
    """The ``bsir`` command (:func:`bsir.tools.bsir_cli.main`)."""
    return _run("bsir.tools.bsir_cli")


def bsir_opt() -> int:
    """The ``bsir-opt`` command (:func:`bsir.tools.bsir_opt.main`)."""
    return _run("bsir.tools.bsir_opt")
