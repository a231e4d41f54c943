"""Record attributes: values by name, read once per instance without changing what the
attribute is (equality, hash, printed form)."""

from io import StringIO

from xdsl.context import Context
from xdsl.parser import Parser
from xdsl.printer import Printer

from bsir.dialects import tiling


def printed(attr) -> str:
    stream = StringIO()
    Printer(stream).print_attribute(attr)
    return stream.getvalue()


def test_values_by_name_and_a_copy_for_the_caller():
    split = tiling.SplitAttr.make(mode="w", cols=[0, 7, 14], rows=[0, 32, 64], parts=1)
    assert split.get("mode") == "w" and split.get("cols") == (0, 7, 14)
    values = split.as_dict()
    assert values == {"mode": "w", "cols": (0, 7, 14), "rows": (0, 32, 64), "parts": 1}
    values["mode"] = "h"  # the caller's copy
    assert split.get("mode") == "w" and split.as_dict()["mode"] == "w"


def test_reading_values_leaves_equality_hash_and_text_alone():
    read = tiling.DDRAttr.make(h_passes=2, cout_passes=3)
    fresh = tiling.DDRAttr.make(h_passes=2, cout_passes=3)
    text = printed(fresh)
    assert read.get("h_passes") == 2
    assert read == fresh and hash(read) == hash(fresh)
    assert printed(read) == text
    assert read != tiling.DDRAttr.make(h_passes=2, cout_passes=4)
    context = Context()
    context.load_dialect(tiling.TILING)
    parsed = Parser(context, text).parse_attribute()
    assert parsed == read and parsed.as_dict() == read.as_dict()
