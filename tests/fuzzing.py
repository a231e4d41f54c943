"""Mutations the fuzz tests apply to valid inputs (text IR, ONNX, .npz bytes)."""

from __future__ import annotations

REPLACE, INSERT, DELETE, DROP_QUOTE, CUT = range(5)


def mutate(data: bytes, edits: list[tuple[int, int, int]]) -> bytes:
    """Apply (kind, position, value) edits: replace, insert or delete one byte, drop the
    n-th double quote (an unclosed string), or cut the data there."""
    out = bytearray(data)
    for kind, position, value in edits:
        if not out:
            break
        at = position % len(out)
        if kind == REPLACE:
            out[at] = value
        elif kind == INSERT:
            out.insert(at, value)
        elif kind == DELETE:
            del out[at]
        elif kind == DROP_QUOTE:
            quotes = [i for i, byte in enumerate(out) if byte == ord('"')]
            if quotes:
                del out[quotes[position % len(quotes)]]
        else:
            del out[at:]
    return bytes(out)
