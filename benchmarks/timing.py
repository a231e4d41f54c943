"""Wall-clock timing shared by the benchmarks."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def timed(function: Callable[[], object], repeat: int, warm_up: bool = True) -> list[float]:
    """Seconds of ``repeat`` calls, after one untimed call when ``warm_up``."""
    if warm_up:
        function()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return times


def median_time(function: Callable[[], object], repeat: int, warm_up: bool = True) -> float:
    """The median of :func:`timed`."""
    return statistics.median(timed(function, repeat, warm_up))
