"""bsir's dialects and passes as an xDSL universe.

Registered under the ``xdsl.universe`` entry point, so ``bsir-opt`` and ``xdsl-opt``
find them the same way they find any third-party plugin.
"""

from __future__ import annotations

from xdsl.universe import Universe


def _tg():
    from bsir.dialects.tg import TG

    return TG


def _tiling():
    from bsir.dialects.tiling import TILING

    return TILING


def _aie2():
    from bsir.dialects.aie2 import AIE2

    return AIE2


def _passes():
    from bsir.passes import all_passes

    return all_passes()


BSIR_UNIVERSE = Universe(
    all_dialects={"tg": _tg, "tiling": _tiling, "aie2": _aie2},
    all_passes=_passes(),
)
