"""Frozen dataclasses that serve as memo keys.

The mapper's memo tables (``functools.lru_cache``) hash their arguments on every
lookup, many thousands of times a compile; a frozen dataclass's generated ``__hash__``
hashes every field each time. A class that is such a key sets ``__hash__ =
hash_once`` in its body (dataclasses keep an explicit ``__hash__``): the hash of its
fields is computed on the first lookup and kept on the instance; ``__getstate__ =
state_without_hash`` leaves it out of pickles.
"""

from __future__ import annotations

from dataclasses import fields


def hash_once(self: object) -> int:
    """The hash of a frozen dataclass's fields, computed once per instance."""
    try:
        return self._hash  # type: ignore[attr-defined]
    except AttributeError:
        cached = hash(tuple(getattr(self, f.name) for f in fields(self)))  # type: ignore[arg-type]
        object.__setattr__(self, "_hash", cached)
        return cached


def state_without_hash(self: object) -> dict[str, object]:
    """Pickled state without the kept hash: string hashes differ from process to process
    (a worker of ``bsir table2 --jobs`` computes its own)."""
    return {key: value for key, value in self.__dict__.items() if key != "_hash"}
