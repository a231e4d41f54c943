"""First-fit address allocation inside one memtile (or one symmetric set of memtiles).

A tensor spread over several memtiles takes the same address range in each, as in the
paper ("one starting address and a final address"), so one allocator serves them all.
Ranges are aligned to :data:`ALIGN` bytes.
"""

from __future__ import annotations

from collections.abc import Hashable
from itertools import pairwise

ALIGN = 64


def align(size: int) -> int:
    return -(-size // ALIGN) * ALIGN


class IntervalAllocator:
    """Non-overlapping [start, start + size) ranges in [0, capacity)."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.ranges: dict[Hashable, tuple[int, int]] = {}

    def holes(self) -> list[tuple[int, int]]:
        """Free (address, size) gaps, by address."""
        gaps, cursor = [], 0
        for start, length in sorted(self.ranges.values()):
            if start > cursor:
                gaps.append((cursor, start - cursor))
            cursor = max(cursor, start + length)
        if cursor < self.capacity:
            gaps.append((cursor, self.capacity - cursor))
        return gaps

    def allocate(self, key: Hashable, size: int, from_top: bool = False) -> int | None:
        """The lowest aligned address where ``size`` bytes fit (the highest with
        ``from_top``), or None. Growing layer outputs from the end opposite their input
        keeps a chain of layers from fragmenting the memtile."""
        if key in self.ranges:
            raise KeyError(f"{key!r} is already allocated")
        size = align(max(size, 1))
        fitting = [(start, length) for start, length in self.holes() if length >= size]
        if not fitting:
            return None
        if from_top:
            start, length = fitting[-1]
            address = (start + length - size) // ALIGN * ALIGN
        else:
            address = fitting[0][0]
        self.ranges[key] = (address, size)
        return address

    def free(self, key: Hashable) -> None:
        self.ranges.pop(key, None)

    def used(self) -> int:
        return sum(size for _, size in self.ranges.values())

    def snapshot(self) -> list[tuple[int, int]]:
        """Every live (address, size), sorted by address."""
        return sorted(self.ranges.values())


def overlaps(ranges: list[tuple[int, int]], capacity: int) -> list[str]:
    """Problems in a set of live ranges: overlaps and out-of-bounds addresses."""
    problems = []
    ordered = sorted(ranges)
    for start, size in ordered:
        if start < 0 or size < 0 or start + size > capacity:
            problems.append(f"[{start}, {start + size}) is outside [0, {capacity})")
    for (a, sa), (b, sb) in pairwise(ordered):
        if a + sa > b:
            problems.append(f"[{a}, {a + sa}) overlaps [{b}, {b + sb})")
    return problems
