"""bsir's passes, one module per pass, named after it (``tg_sparsify`` is ``tg-sparsify``).

:func:`all_passes` maps each pass name to a factory returning its class; the factories
import lazily so that loading the universe stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable

from xdsl.passes import ModulePass

PASS_MODULES: dict[str, tuple[str, str]] = {
    "tg-sparsify": ("tg_sparsify", "TgSparsifyPass"),
    "tg-fold-batchnorm": ("tg_fold_batchnorm", "TgFoldBatchnormPass"),
    "tg-split-global-pool": ("tg_split_global_pool", "TgSplitGlobalPoolPass"),
    "tg-sink-reshapes": ("tg_sink_reshapes", "TgSinkReshapesPass"),
    "tg-quantize": ("tg_quantize", "TgQuantizePass"),
    "convert-tg-to-tiling": ("convert_tg_to_tiling", "ConvertTgToTilingPass"),
    "tiling-compact-weights": ("tiling_compact_weights", "TilingCompactWeightsPass"),
    "tiling-color-memtiles": ("tiling_color_memtiles", "TilingColorMemtilesPass"),
    "convert-tiling-to-aie2": ("convert_tiling_to_aie2", "ConvertTilingToAie2Pass"),
    "aie2-form-lock-chains": ("aie2_form_lock_chains", "Aie2FormLockChainsPass"),
}
"""Pass name -> (module under bsir.passes, class name)."""


def _factory(module: str, cls: str) -> Callable[[], type[ModulePass]]:
    def load() -> type[ModulePass]:
        import importlib

        return getattr(importlib.import_module(f"bsir.passes.{module}"), cls)

    return load


def all_passes() -> dict[str, Callable[[], type[ModulePass]]]:
    """Every bsir pass, by name."""
    return {name: _factory(module, cls) for name, (module, cls) in PASS_MODULES.items()}
