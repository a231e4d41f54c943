"""RecordAttr: an attribute whose parameters print as ``<key = value, ...>``.

Parameters may be ``IntAttr`` (``n = 4``), ``FloatData`` (``gbps = 4.0``, printed
with Python's shortest round-tripping ``repr``, so a value survives print and parse
exactly), ``StringAttr`` (``mode = "shared"``) or ``ArrayAttr[IntAttr]``
(``bounds = [0, 14, 28]``); parsing takes them in declaration order. The tiling and
aie2 dialects describe mapping decisions with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from xdsl.dialects.builtin import ArrayAttr, FloatData, IntAttr, IntegerAttr, StringAttr, i64
from xdsl.ir import Attribute, ParametrizedAttribute
from xdsl.parser import AttrParser
from xdsl.printer import Printer


@lru_cache(maxsize=4096)
def i64_attr(value: int) -> IntegerAttr:
    """An i64 integer attribute, one instance per value: attributes are immutable values
    (as MLIR uniques them), and a lowered network builds thousands of the same few."""
    return IntegerAttr(value, i64)


@lru_cache(maxsize=4096)
def _int_attr(value: int) -> IntAttr:
    """One ``IntAttr`` per value, as :func:`i64_attr`: every layer's records hold
    the same few."""
    return IntAttr(value)


def to_attr(value: int | float | str | Sequence[int] | Attribute) -> Attribute:
    """A Python value as the attribute a RecordAttr parameter holds."""
    if isinstance(value, Attribute):
        return value
    if isinstance(value, bool | int):
        return _int_attr(int(value))
    if isinstance(value, float):
        return FloatData(value)
    if isinstance(value, str):
        return StringAttr(value)
    return ArrayAttr(_int_attr(int(v)) for v in value)


def from_attr(attr: Attribute) -> int | float | str | tuple[int, ...]:
    if isinstance(attr, IntAttr | FloatData):
        return attr.data
    if isinstance(attr, StringAttr):
        return attr.data
    assert isinstance(attr, ArrayAttr)
    return tuple(v.data for v in attr.data)  # type: ignore[attr-defined]


def float_text(value: float) -> str:
    """The shortest text that parses back to ``value``, always with a point (``1.0e-05``):
    MLIR reads ``1e-05`` as an integer followed by junk."""
    text = repr(value)
    mantissa, e, exponent = text.partition("e")
    if "." not in mantissa:
        mantissa += ".0"
    return mantissa + e + exponent


_NAMES: dict[type, tuple[str, ...]] = {}
"""Each RecordAttr class's parameter names."""


class RecordAttr(ParametrizedAttribute):
    """Base class; subclasses declare parameters as annotations, in print order."""

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The parameters' names, in order (read once per class)."""
        known = _NAMES.get(cls)
        if known is None:
            known = _NAMES[cls] = tuple(name for name, _ in cls.get_irdl_definition().parameters)
        return known

    @classmethod
    def make(cls, **values: int | str | Sequence[int]):
        """Build from Python values by parameter name."""
        return cls(*(to_attr(values[name]) for name in cls.names()))

    def get(self, name: str) -> int | str | tuple[int, ...]:
        return self._values()[name]

    def as_dict(self) -> dict[str, int | str | tuple[int, ...]]:
        return dict(self._values())

    def _values(self) -> dict[str, int | str | tuple[int, ...]]:
        """The parameters as Python values by name, read once per instance (an
        attribute is immutable; passes and the time model read a layer's many times).
        Kept beside the parameters, so equality and hashing do not see it."""
        try:
            return self.__dict__["_record_values"]
        except KeyError:
            values = {name: from_attr(p)
                      for name, p in zip(self.names(), self.parameters, strict=True)}
            object.__setattr__(self, "_record_values", values)
            return values

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> list[Attribute]:
        values: list[Attribute] = []
        with parser.in_angle_brackets():
            for index, name in enumerate(cls.names()):
                if index:
                    parser.parse_punctuation(",")
                parser.parse_keyword(name)
                parser.parse_punctuation("=")
                text = parser.parse_optional_str_literal()
                if text is not None:
                    values.append(StringAttr(text))
                elif parser.parse_optional_punctuation("[") is not None:
                    items: list[int] = []
                    if parser.parse_optional_punctuation("]") is None:
                        items.append(parser.parse_integer())
                        while parser.parse_optional_punctuation(",") is not None:
                            items.append(parser.parse_integer())
                        parser.parse_punctuation("]")
                    values.append(ArrayAttr(IntAttr(v) for v in items))
                else:
                    number = parser.parse_number()
                    values.append(FloatData(number) if isinstance(number, float)
                                  else IntAttr(number))
        return values

    def print_parameters(self, printer: Printer) -> None:
        parts = []
        for name, param in zip(self.names(), self.parameters, strict=True):
            value = from_attr(param)
            if isinstance(value, str):
                text = f'"{value}"'
            elif isinstance(value, tuple):
                text = "[" + ", ".join(map(str, value)) + "]"
            elif isinstance(value, float):
                text = float_text(value)
            else:
                text = str(value)
            parts.append(f"{name} = {text}")
        printer.print_string("<" + ", ".join(parts) + ">")
