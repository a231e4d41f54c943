"""Restricting the mapper's search in tests worked out by hand on a given loop order."""

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from bsir.targets.aie2 import mapping


@contextmanager
def without_columns_inside() -> Iterator[None]:
    """The mapper without the loop order that streams whole-height column chunks
    through each input-channel chunk's weights (``cin_split = 4``); its memoised
    searches are forgotten on entry and exit, so no mapping leaks either way."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(mapping, "_columns_inside", lambda *args: [])
        mapping.forget_searches()
        try:
            yield
        finally:
            mapping.forget_searches()
