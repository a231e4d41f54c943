"""The tg dialect: a tensor graph, one op per network layer.

Activations are NHWC tensors (``f32``, or ``i8`` once quantized); convolution weights
are COUT x KH x KW x CIN/groups and linear weights COUT x CIN. Weight values live in
an ``.npz`` file named by the module attribute ``tg.weights`` and are referenced by
key through ``tg.weight`` ops, so the text stays small::

    builtin.module attributes {tg.weights = "net.npz"} {
      tg.graph @net(%x: tensor<1x8x8x16xf32>) -> (tensor<1x8x8x32xf32>) {
        %w = tg.weight "conv.weight" : tensor<32x3x3x16xf32>
        %y = tg.conv2d %x, %w {pad = array<i64: 1, 1, 1, 1>} : (...) -> tensor<1x8x8x32xf32>
        tg.output %y : tensor<1x8x8x32xf32>
      }
    }

Two attributes carry what later passes decide: ``#tg.sparsity`` (block shape and the
packed block mask Gamma over COUT x CIN) and ``#tg.quant`` (power-of-two fix positions).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from typing import ClassVar

import numpy as np
from xdsl.dialects.builtin import (
    ArrayAttr,
    DenseArrayBase,
    FloatAttr,
    FunctionType,
    IntAttr,
    IntegerAttr,
    ModuleOp,
    NoneAttr,
    StringAttr,
    SymbolNameConstraint,
    TensorType,
    UnitAttr,
    f32,
    i8,
    i32,
    i64,
)
from xdsl.ir import Attribute, Block, Dialect, Operation, ParametrizedAttribute, Region, SSAValue
from xdsl.irdl import (
    IRDLOperation,
    ParsePropInAttrDict,
    irdl_attr_definition,
    irdl_op_definition,
    operand_def,
    opt_operand_def,
    opt_prop_def,
    prop_def,
    region_def,
    result_def,
    traits_def,
    var_operand_def,
)
from xdsl.parser import AttrParser, Parser
from xdsl.printer import Printer
from xdsl.traits import HasParent, IsolatedFromAbove, IsTerminator, Pure, SymbolOpInterface
from xdsl.utils.exceptions import VerifyException

from bsir.dialects import tg_shapes as shapes

WEIGHTS_ATTR = "tg.weights"
"""Module attribute naming the ``.npz`` that holds the values of the ``tg.weight`` ops."""

FLOAT = f32
INT8 = i8
INT32 = i32


# --------------------------------------------------------------------------- attributes


def _parse_int_list(parser: AttrParser) -> list[int]:
    return parser.parse_comma_separated_list(parser.Delimiter.SQUARE, parser.parse_integer)


@irdl_attr_definition
class SparsityAttr(ParametrizedAttribute):
    """Block sparsity of a weighted op: block shape over (COUT, CIN) and the mask Gamma.

    ``grid`` is the number of blocks along COUT and CIN (edge blocks may be partial);
    ``mask`` is Gamma, row-major over the grid, packed MSB-first into bytes and
    written as hex. A set bit marks a block that is kept (non-zero).

    Syntax: ``#tg.sparsity<block = [8, 8], grid = [8, 2], mask = "ff00">``
    """

    name = "tg.sparsity"

    block: ArrayAttr[IntAttr]
    grid: ArrayAttr[IntAttr]
    mask: StringAttr

    @staticmethod
    def from_mask(block: Sequence[int], mask: np.ndarray) -> SparsityAttr:
        """Build the attribute from a boolean (COUT-blocks x CIN-blocks) mask."""
        mask = np.asarray(mask, dtype=bool)
        if mask.ndim != 2:
            raise VerifyException(f"a block mask must be 2-D, got {mask.ndim}-D")
        packed = np.packbits(mask.reshape(-1), bitorder="big").tobytes().hex()
        return SparsityAttr(
            ArrayAttr(IntAttr(b) for b in block),
            ArrayAttr(IntAttr(g) for g in mask.shape),
            StringAttr(packed),
        )

    @property
    def block_shape(self) -> tuple[int, int]:
        return tuple(b.data for b in self.block.data)  # type: ignore[return-value]

    @property
    def grid_shape(self) -> tuple[int, int]:
        return tuple(g.data for g in self.grid.data)  # type: ignore[return-value]

    def mask_array(self) -> np.ndarray:
        """Gamma as a boolean array of shape ``grid``."""
        rows, cols = self.grid_shape
        bits = np.unpackbits(np.frombuffer(bytes.fromhex(self.mask.data), np.uint8))
        return bits[: rows * cols].astype(bool).reshape(rows, cols)

    def density(self) -> float:
        """Fraction of blocks kept."""
        mask = self.mask_array()
        return float(mask.mean()) if mask.size else 1.0

    def verify(self) -> None:
        if len(self.block.data) != 2 or any(b.data < 1 for b in self.block.data):
            raise VerifyException("sparsity block must be two positive sizes (COUT, CIN)")
        if len(self.grid.data) != 2 or any(g.data < 0 for g in self.grid.data):
            raise VerifyException("sparsity grid must be two non-negative block counts")
        try:
            raw = bytes.fromhex(self.mask.data)
        except ValueError:
            raise VerifyException("sparsity mask must be a hex string") from None
        rows, cols = self.grid_shape
        expected = -(-(rows * cols) // 8)
        if len(raw) != expected:
            raise VerifyException(
                f"sparsity mask has {len(raw)} bytes, a {rows}x{cols} grid needs {expected}"
            )

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> list[Attribute]:
        with parser.in_angle_brackets():
            parser.parse_keyword("block")
            parser.parse_punctuation("=")
            block = _parse_int_list(parser)
            parser.parse_punctuation(",")
            parser.parse_keyword("grid")
            parser.parse_punctuation("=")
            grid = _parse_int_list(parser)
            parser.parse_punctuation(",")
            parser.parse_keyword("mask")
            parser.parse_punctuation("=")
            mask = parser.parse_str_literal()
        return [
            ArrayAttr(IntAttr(b) for b in block),
            ArrayAttr(IntAttr(g) for g in grid),
            StringAttr(mask),
        ]

    def print_parameters(self, printer: Printer) -> None:
        block = ", ".join(str(b) for b in self.block_shape)
        grid = ", ".join(str(g) for g in self.grid_shape)
        printer.print_string(f'<block = [{block}], grid = [{grid}], mask = "{self.mask.data}">')


@irdl_attr_definition
class QuantAttr(ParametrizedAttribute):
    """INT8 power-of-two quantization of one op: the fix position of each tensor.

    A fix position p means ``real = int * 2**-p``. ``inputs`` has one entry per
    activation operand; ``weight`` and ``bias`` are absent on unweighted ops.

    Syntax: ``#tg.quant<inputs = [5], weight = 7, bias = 12, output = 4>``
    """

    name = "tg.quant"

    inputs: ArrayAttr[IntAttr]
    weight: IntAttr | NoneAttr
    bias: IntAttr | NoneAttr
    output: IntAttr

    @staticmethod
    def get(inputs: Sequence[int], output: int, weight: int | None = None,
            bias: int | None = None) -> QuantAttr:
        return QuantAttr(
            ArrayAttr(IntAttr(p) for p in inputs),
            NoneAttr() if weight is None else IntAttr(weight),
            NoneAttr() if bias is None else IntAttr(bias),
            IntAttr(output),
        )

    @property
    def input_positions(self) -> tuple[int, ...]:
        return tuple(p.data for p in self.inputs.data)

    @property
    def weight_position(self) -> int | None:
        return None if isinstance(self.weight, NoneAttr) else self.weight.data

    @property
    def bias_position(self) -> int | None:
        return None if isinstance(self.bias, NoneAttr) else self.bias.data

    @property
    def output_position(self) -> int:
        return self.output.data

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> list[Attribute]:
        with parser.in_angle_brackets():
            parser.parse_keyword("inputs")
            parser.parse_punctuation("=")
            inputs = _parse_int_list(parser)
            fields: dict[str, int] = {}
            while parser.parse_optional_punctuation(",") is not None:
                key = parser.parse_keyword_in(("weight", "bias", "output"))
                if key in fields:
                    parser.raise_error(f"duplicate quant field '{key}'")
                parser.parse_punctuation("=")
                fields[key] = parser.parse_integer()
        if "output" not in fields:
            parser.raise_error("#tg.quant needs an 'output' fix position")
        return list(
            QuantAttr.get(inputs, fields["output"], fields.get("weight"), fields.get("bias"))
            .parameters
        )

    def print_parameters(self, printer: Printer) -> None:
        text = "inputs = [" + ", ".join(str(p) for p in self.input_positions) + "]"
        if self.weight_position is not None:
            text += f", weight = {self.weight_position}"
        if self.bias_position is not None:
            text += f", bias = {self.bias_position}"
        printer.print_string(f"<{text}, output = {self.output_position}>")


# --------------------------------------------------------------------------- helpers


def tensor_shape(value: SSAValue | Attribute) -> tuple[int, ...]:
    """Static shape of a tensor-typed value or type."""
    typ = value.type if isinstance(value, SSAValue) else value
    assert isinstance(typ, TensorType)
    return tuple(typ.get_shape())


def tensor_type(shape: Sequence[int], element: Attribute = FLOAT) -> TensorType:
    return TensorType(element, list(shape))


def dense_i64(values: Sequence[int]) -> DenseArrayBase:
    return DenseArrayBase.from_list(i64, [int(v) for v in values])


@lru_cache(maxsize=1024)
def _values(attr: DenseArrayBase) -> tuple[int, ...]:
    """The integers of a dense array attribute (strides, pads, permutations), unpacked
    once per attribute value: a compile reads each layer's many times."""
    return tuple(int(v) for v in attr.get_values())


def _check_tensor(value: SSAValue, what: str) -> TensorType:
    typ = value.type
    if not isinstance(typ, TensorType):
        raise VerifyException(f"{what} must be a tensor, got {typ}")
    if any(d < 0 for d in typ.get_shape()):
        raise VerifyException(f"{what} must have a static shape, got {typ}")
    if typ.element_type not in (FLOAT, INT8, INT32):
        raise VerifyException(f"{what} must hold f32, i8 or i32, got {typ.element_type}")
    return typ


def _check_result(op: Operation, expected: Sequence[int], element: Attribute) -> None:
    result = op.results[0]
    typ = _check_tensor(result, "result")
    if tuple(typ.get_shape()) != tuple(expected) or typ.element_type != element:
        raise VerifyException(
            f"result type {typ} does not match the inferred {tensor_type(expected, element)}"
        )


def _check_same_element(op: Operation, values: Sequence[SSAValue]) -> Attribute:
    elements = {_check_tensor(v, "operand").element_type for v in values}
    if len(elements) != 1:
        raise VerifyException(f"operands of '{op.name}' must share one element type")
    element = next(iter(elements))
    if element == INT32:
        raise VerifyException(f"'{op.name}' works on f32 or i8 activations, not i32")
    return element


def activation_fix(value: SSAValue) -> int | None:
    """The fix position an i8 activation is produced at, or None if not known here."""
    owner = value.owner
    while isinstance(owner, MOVE_OPS):
        owner = owner.input.owner
    if isinstance(owner, QuantizeOp):
        return owner.fix_position
    quant = getattr(owner, "quant", None) if isinstance(owner, Operation) else None
    return quant.output_position if isinstance(quant, QuantAttr) else None


def _check_quant(op: Operation, quant: QuantAttr | None, inputs: Sequence[SSAValue],
                 element: Attribute, weighted: bool = False, has_bias: bool = False) -> None:
    if quant is None:
        if element == INT8:
            raise VerifyException(f"i8 '{op.name}' needs a #tg.quant attribute")
        return
    if len(quant.input_positions) != len(inputs):
        raise VerifyException(
            f"#tg.quant gives {len(quant.input_positions)} input fix position(s), "
            f"'{op.name}' has {len(inputs)} activation input(s)"
        )
    for index, (value, declared) in enumerate(zip(inputs, quant.input_positions, strict=True)):
        produced = activation_fix(value)
        if produced is not None and produced != declared:
            raise VerifyException(
                f"input {index} is produced at fix position {produced} but #tg.quant "
                f"reads it at {declared}"
            )
    if weighted and quant.weight_position is None:
        raise VerifyException(f"#tg.quant of '{op.name}' needs a weight fix position")
    if not weighted and quant.weight_position is not None:
        raise VerifyException(f"'{op.name}' has no weight but #tg.quant gives one")
    if has_bias and quant.bias_position is None:
        raise VerifyException(f"#tg.quant of '{op.name}' needs a bias fix position")


def _check_weighted_types(op: Operation, x: SSAValue, w: SSAValue,
                          b: SSAValue | None) -> Attribute:
    """f32 everywhere, or i8 activations and weights with an i32 bias."""
    element = _check_tensor(x, "input").element_type
    w_el = _check_tensor(w, "weight").element_type
    if element not in (FLOAT, INT8):
        raise VerifyException(f"'{op.name}' input must be f32 or i8, got {element}")
    if w_el != element:
        raise VerifyException(f"'{op.name}' weight is {w_el} but its input is {element}")
    if b is not None:
        b_el = _check_tensor(b, "bias").element_type
        expected = FLOAT if element == FLOAT else INT32
        if b_el != expected:
            raise VerifyException(f"'{op.name}' bias must be {expected} for {element} inputs")
    return element


def _check_sparsity(sparsity: SparsityAttr | None, cout: int, cin: int) -> None:
    if sparsity is None:
        return
    expected = shapes.blocks_grid(cout, cin, sparsity.block_shape)
    if sparsity.grid_shape != expected:
        raise VerifyException(
            f"#tg.sparsity grid {list(sparsity.grid_shape)} does not cover a "
            f"{cout}x{cin} weight in {list(sparsity.block_shape)} blocks "
            f"(expected {list(expected)})"
        )


_BINARY_FORMAT = "$input `,` $weight (`,` $bias^)? attr-dict `:` functional-type(operands, results)"
_UNARY_FORMAT = "$input attr-dict `:` functional-type(operands, results)"


class _TgOp(IRDLOperation):
    """Common base: every tg layer op is pure and keeps properties in its attr-dict."""

    irdl_options = (ParsePropInAttrDict(),)
    traits = traits_def(Pure())


# --------------------------------------------------------------------------- graph ops


@irdl_op_definition
class GraphOp(IRDLOperation):
    """A network: block arguments are its inputs, ``tg.output`` returns its outputs.

    Syntax: ``tg.graph @name(%x: tensor<...>) -> (tensor<...>) { ... }``
    """

    name = "tg.graph"

    sym_name = prop_def(SymbolNameConstraint())
    function_type = prop_def(FunctionType)
    body = region_def("single_block")

    traits = traits_def(IsolatedFromAbove(), SymbolOpInterface())

    def __init__(self, name: str, input_types: Sequence[Attribute],
                 output_types: Sequence[Attribute], body: Region | None = None):
        if body is None:
            body = Region(Block(arg_types=input_types))
        super().__init__(
            properties={
                "sym_name": StringAttr(name),
                "function_type": FunctionType.from_lists(input_types, output_types),
            },
            regions=[body],
        )

    @property
    def block(self) -> Block:
        return self.body.block

    @property
    def output(self) -> OutputOp:
        last = self.block.last_op
        assert isinstance(last, OutputOp)
        return last

    def verify_(self) -> None:
        inputs = tuple(self.function_type.inputs.data)
        if tuple(self.block.arg_types) != inputs:
            raise VerifyException("graph block arguments must match the graph input types")
        for i, arg in enumerate(self.block.args):
            _check_tensor(arg, f"graph input {i}")
        last = self.block.last_op
        if not isinstance(last, OutputOp):
            raise VerifyException("a tg.graph must end with tg.output")
        outputs = tuple(self.function_type.outputs.data)
        if tuple(v.type for v in last.values) != outputs:
            raise VerifyException("tg.output types must match the graph result types")
        uses_weights = any(isinstance(op, WeightOp) for op in self.block.ops)
        module = self.parent_op()
        if uses_weights and (
            not isinstance(module, ModuleOp)
            or not isinstance(module.attributes.get(WEIGHTS_ATTR), StringAttr)
        ):
            raise VerifyException(
                f"graph references weights but its module names no weights file "
                f'(add attributes {{{WEIGHTS_ATTR} = "file.npz"}} to the module)'
            )

    @classmethod
    def parse(cls, parser: Parser) -> GraphOp:
        name = parser.parse_symbol_name().data
        args = parser.parse_comma_separated_list(parser.Delimiter.PAREN, parser.parse_argument)
        parser.parse_punctuation("->")
        outputs = parser.parse_comma_separated_list(parser.Delimiter.PAREN, parser.parse_type)
        attrs = parser.parse_optional_attr_dict_with_keyword()
        body = parser.parse_region(args)
        op = GraphOp(name, [a.type for a in args], outputs, body)
        if attrs is not None:
            op.attributes |= attrs.data
        return op

    def print(self, printer: Printer) -> None:
        printer.print_string(f" @{self.sym_name.data}(")
        printer.print_list(self.block.args, printer.print_block_argument)
        printer.print_string(") -> (")
        printer.print_list(self.function_type.outputs.data, printer.print_attribute)
        printer.print_string(")")
        if self.attributes:
            printer.print_op_attributes(self.attributes, print_keyword=True)
        printer.print_string(" ")
        printer.print_region(self.body, print_entry_block_args=False)


@irdl_op_definition
class OutputOp(IRDLOperation):
    """Returns the graph's outputs."""

    name = "tg.output"

    values = var_operand_def(TensorType)
    traits = traits_def(IsTerminator(), HasParent(GraphOp))
    assembly_format = "$values attr-dict `:` type($values)"

    def __init__(self, values: Sequence[SSAValue]):
        super().__init__(operands=[values])

    def verify_(self) -> None:
        if not self.values:
            raise VerifyException("a graph must return at least one tensor")


@irdl_op_definition
class WeightOp(_TgOp):
    """A constant tensor: the entry ``key`` of the module's weights file."""

    name = "tg.weight"

    key = prop_def(StringAttr)
    result = result_def(TensorType)
    assembly_format = "$key attr-dict `:` type($result)"

    def __init__(self, key: str, typ: TensorType):
        super().__init__(properties={"key": StringAttr(key)}, result_types=[typ])

    def verify_(self) -> None:
        if not self.key.data:
            raise VerifyException("a weight key must not be empty")
        _check_tensor(self.result, "weight")


# --------------------------------------------------------------------------- layer ops


@irdl_op_definition
class Conv2dOp(_TgOp):
    """2-D convolution, NHWC input, COUT x KH x KW x CIN/groups weight, optional bias.

    ``pad`` is (top, left, bottom, right). Optional ``sparsity`` (#tg.sparsity) and
    ``quant`` (#tg.quant).
    """

    name = "tg.conv2d"

    input = operand_def(TensorType)
    weight = operand_def(TensorType)
    bias = opt_operand_def(TensorType)
    output = result_def(TensorType)
    stride = prop_def(DenseArrayBase)
    pad = prop_def(DenseArrayBase)
    dilation = prop_def(DenseArrayBase)
    groups = prop_def(IntegerAttr)
    sparsity = opt_prop_def(SparsityAttr)
    quant = opt_prop_def(QuantAttr)
    assembly_format = _BINARY_FORMAT

    def __init__(self, input: SSAValue, weight: SSAValue, bias: SSAValue | None = None, *,
                 stride: Sequence[int] = (1, 1), pad: Sequence[int] = (0, 0, 0, 0),
                 dilation: Sequence[int] = (1, 1), groups: int = 1,
                 result_type: Attribute | None = None):
        if result_type is None:
            shape = shapes.conv2d_output_shape(
                tensor_shape(input), tensor_shape(weight), stride, pad, dilation, groups
            )
            result_type = tensor_type(shape, input.type.element_type)  # type: ignore[attr-defined]
        super().__init__(
            operands=[input, weight, bias],
            result_types=[result_type],
            properties={
                "stride": dense_i64(stride),
                "pad": dense_i64(pad),
                "dilation": dense_i64(dilation),
                "groups": IntegerAttr(groups, i64),
            },
        )

    @property
    def stride_hw(self) -> tuple[int, ...]:
        return _values(self.stride)

    @property
    def pads(self) -> tuple[int, ...]:
        return _values(self.pad)

    @property
    def dilation_hw(self) -> tuple[int, ...]:
        return _values(self.dilation)

    @property
    def group_count(self) -> int:
        return self.groups.value.data

    def verify_(self) -> None:
        element = _check_weighted_types(self, self.input, self.weight, self.bias)
        w_shape = tensor_shape(self.weight)
        expected = shapes.conv2d_output_shape(
            tensor_shape(self.input), w_shape, self.stride_hw, self.pads,
            self.dilation_hw, self.group_count,
        )
        if self.bias is not None and tensor_shape(self.bias) != (w_shape[0],):
            raise VerifyException(
                f"bias must have shape [{w_shape[0]}], got {list(tensor_shape(self.bias))}"
            )
        _check_result(self, expected, element)
        _check_sparsity(self.sparsity, w_shape[0], w_shape[3])
        _check_quant(self, self.quant, [self.input], element, weighted=True,
                     has_bias=self.bias is not None)


@irdl_op_definition
class MatmulOp(_TgOp):
    """Linear layer ``y = x W^T + b``: x is N x CIN, W is COUT x CIN, b is COUT."""

    name = "tg.matmul"

    input = operand_def(TensorType)
    weight = operand_def(TensorType)
    bias = opt_operand_def(TensorType)
    output = result_def(TensorType)
    sparsity = opt_prop_def(SparsityAttr)
    quant = opt_prop_def(QuantAttr)
    assembly_format = _BINARY_FORMAT

    def __init__(self, input: SSAValue, weight: SSAValue, bias: SSAValue | None = None,
                 result_type: Attribute | None = None):
        if result_type is None:
            shape = shapes.matmul_output_shape(tensor_shape(input), tensor_shape(weight))
            result_type = tensor_type(shape, input.type.element_type)  # type: ignore[attr-defined]
        super().__init__(operands=[input, weight, bias], result_types=[result_type])

    def verify_(self) -> None:
        element = _check_weighted_types(self, self.input, self.weight, self.bias)
        w_shape = tensor_shape(self.weight)
        expected = shapes.matmul_output_shape(tensor_shape(self.input), w_shape)
        if self.bias is not None and tensor_shape(self.bias) != (w_shape[0],):
            raise VerifyException(
                f"bias must have shape [{w_shape[0]}], got {list(tensor_shape(self.bias))}"
            )
        _check_result(self, expected, element)
        _check_sparsity(self.sparsity, w_shape[0], w_shape[1])
        _check_quant(self, self.quant, [self.input], element, weighted=True,
                     has_bias=self.bias is not None)


class _Pool2dOp(_TgOp):
    input = operand_def(TensorType)
    output = result_def(TensorType)
    kernel = prop_def(DenseArrayBase)
    stride = prop_def(DenseArrayBase)
    pad = prop_def(DenseArrayBase)
    ceil_mode = opt_prop_def(IntegerAttr)
    quant = opt_prop_def(QuantAttr)
    assembly_format = _UNARY_FORMAT

    def __init__(self, input: SSAValue, kernel: Sequence[int], stride: Sequence[int],
                 pad: Sequence[int] = (0, 0, 0, 0), ceil_mode: bool = False,
                 result_type: Attribute | None = None, **extra: Attribute):
        if result_type is None:
            shape = shapes.pool2d_output_shape(tensor_shape(input), kernel, stride, pad, ceil_mode)
            result_type = tensor_type(shape, input.type.element_type)  # type: ignore[attr-defined]
        properties: dict[str, Attribute] = {
            "kernel": dense_i64(kernel),
            "stride": dense_i64(stride),
            "pad": dense_i64(pad),
            **extra,
        }
        if ceil_mode:
            properties["ceil_mode"] = IntegerAttr(1, i64)
        super().__init__(operands=[input], result_types=[result_type], properties=properties)

    @property
    def kernel_hw(self) -> tuple[int, ...]:
        return _values(self.kernel)

    @property
    def stride_hw(self) -> tuple[int, ...]:
        return _values(self.stride)

    @property
    def pads(self) -> tuple[int, ...]:
        return _values(self.pad)

    @property
    def is_ceil_mode(self) -> bool:
        return self.ceil_mode is not None and self.ceil_mode.value.data != 0

    def verify_(self) -> None:
        element = _check_same_element(self, [self.input])
        expected = shapes.pool2d_output_shape(
            tensor_shape(self.input), self.kernel_hw, self.stride_hw, self.pads,
            self.is_ceil_mode,
        )
        _check_result(self, expected, element)
        _check_quant(self, self.quant, [self.input], element)


@irdl_op_definition
class MaxPool2dOp(_Pool2dOp):
    """Max pooling over KH x KW windows; padding never wins the max."""

    name = "tg.maxpool2d"


@irdl_op_definition
class AvgPool2dOp(_Pool2dOp):
    """Average pooling; ``count_include_pad`` (default true) divides by the full window."""

    name = "tg.avgpool2d"

    count_include_pad = opt_prop_def(IntegerAttr)

    def __init__(self, input: SSAValue, kernel: Sequence[int], stride: Sequence[int],
                 pad: Sequence[int] = (0, 0, 0, 0), ceil_mode: bool = False,
                 count_include_pad: bool = True, result_type: Attribute | None = None):
        extra = {} if count_include_pad else {"count_include_pad": IntegerAttr(0, i64)}
        super().__init__(input, kernel, stride, pad, ceil_mode, result_type, **extra)

    @property
    def includes_pad(self) -> bool:
        return self.count_include_pad is None or self.count_include_pad.value.data != 0


@irdl_op_definition
class GlobalAvgPoolOp(_TgOp):
    """Mean over H and W: N x H x W x C to N x 1 x 1 x C."""

    name = "tg.global_avgpool"

    input = operand_def(TensorType)
    output = result_def(TensorType)
    quant = opt_prop_def(QuantAttr)
    assembly_format = _UNARY_FORMAT

    def __init__(self, input: SSAValue):
        n, _, _, c = tensor_shape(input)
        element = input.type.element_type  # type: ignore[attr-defined]
        super().__init__(operands=[input], result_types=[tensor_type((n, 1, 1, c), element)])

    def verify_(self) -> None:
        element = _check_same_element(self, [self.input])
        shape = tensor_shape(self.input)
        if len(shape) != 4:
            raise VerifyException(f"global_avgpool input must be NHWC, got rank {len(shape)}")
        _check_result(self, (shape[0], 1, 1, shape[3]), element)
        _check_quant(self, self.quant, [self.input], element)


class _BinaryOp(_TgOp):
    """Two activations in, one out, of the first one's type."""

    lhs = operand_def(TensorType)
    rhs = operand_def(TensorType)
    output = result_def(TensorType)
    quant = opt_prop_def(QuantAttr)
    assembly_format = "$lhs `,` $rhs attr-dict `:` functional-type(operands, results)"

    def __init__(self, lhs: SSAValue, rhs: SSAValue):
        super().__init__(operands=[lhs, rhs], result_types=[lhs.type])


@irdl_op_definition
class AddOp(_BinaryOp):
    """Elementwise sum of two tensors of one shape (a residual connection)."""

    name = "tg.add"

    def verify_(self) -> None:
        element = _check_same_element(self, [self.lhs, self.rhs])
        if tensor_shape(self.lhs) != tensor_shape(self.rhs):
            raise VerifyException(
                f"add operands differ in shape: {list(tensor_shape(self.lhs))} and "
                f"{list(tensor_shape(self.rhs))}"
            )
        _check_result(self, tensor_shape(self.lhs), element)
        _check_quant(self, self.quant, [self.lhs, self.rhs], element)


class _GatedOp(_BinaryOp):
    """``rhs`` is either of ``lhs``'s shape or a per-channel gate broadcast over every
    other axis: N x 1 x 1 x C on N x H x W x C images, 1 x ... x 1 x C on tokens."""

    @property
    def gated(self) -> bool:
        """Is ``rhs`` a per-channel gate broadcast over the other axes?"""
        lhs, rhs = tensor_shape(self.lhs), tensor_shape(self.rhs)
        if lhs == rhs or len(lhs) != len(rhs) or len(lhs) < 2 or rhs[-1] != lhs[-1]:
            return False
        return all(size == 1 for size in rhs[:-1]) or (
            len(lhs) == 4 and rhs == (lhs[0], 1, 1, lhs[3]))

    def verify_(self) -> None:
        element = _check_same_element(self, [self.lhs, self.rhs])
        lhs, rhs = tensor_shape(self.lhs), tensor_shape(self.rhs)
        if lhs != rhs and not self.gated:
            kind = self.name.split(".")[1]
            raise VerifyException(
                f"{kind} operands must be of one shape, or the second one per channel "
                "(N x 1 x 1 x C on N x H x W x C, ones but the last axis on tokens); "
                f"got {list(lhs)} and {list(rhs)}")
        _check_result(self, lhs, element)
        _check_quant(self, self.quant, [self.lhs, self.rhs], element)


@irdl_op_definition
class MulOp(_GatedOp):
    """Element-wise product, of one shape or by a per-channel gate broadcast over H and
    W (squeeze-and-excitation)."""

    name = "tg.mul"


@irdl_op_definition
class SubOp(_GatedOp):
    """Element-wise difference ``lhs - rhs``, of one shape or by a per-channel value
    broadcast over H and W."""

    name = "tg.sub"


GATED_OPS = (MulOp, SubOp)
"""Binary ops whose second operand may be a per-channel gate."""


@irdl_op_definition
class ConcatOp(_TgOp):
    """Concatenation along ``axis`` (3, the channels, for NHWC activations)."""

    name = "tg.concat"

    inputs = var_operand_def(TensorType)
    output = result_def(TensorType)
    axis = prop_def(IntegerAttr)
    quant = opt_prop_def(QuantAttr)
    assembly_format = "$inputs attr-dict `:` functional-type(operands, results)"

    def __init__(self, inputs: Sequence[SSAValue], axis: int = 3):
        shape = shapes.concat_output_shape([tensor_shape(v) for v in inputs], axis)
        element = inputs[0].type.element_type  # type: ignore[attr-defined]
        super().__init__(
            operands=[inputs],
            result_types=[tensor_type(shape, element)],
            properties={"axis": IntegerAttr(axis, i64)},
        )

    def verify_(self) -> None:
        element = _check_same_element(self, list(self.inputs))
        axis = self.axis.value.data
        expected = shapes.concat_output_shape([tensor_shape(v) for v in self.inputs], axis)
        _check_result(self, expected, element)
        _check_quant(self, self.quant, list(self.inputs), element)


class _ElementwiseOp(_TgOp):
    input = operand_def(TensorType)
    output = result_def(TensorType)
    quant = opt_prop_def(QuantAttr)
    assembly_format = _UNARY_FORMAT

    def __init__(self, input: SSAValue, properties: dict[str, Attribute] | None = None):
        super().__init__(operands=[input], result_types=[input.type], properties=properties or {})

    def verify_(self) -> None:
        element = _check_same_element(self, [self.input])
        _check_result(self, tensor_shape(self.input), element)
        _check_quant(self, self.quant, [self.input], element)


@irdl_op_definition
class ReluOp(_ElementwiseOp):
    """max(x, 0)."""

    name = "tg.relu"


@irdl_op_definition
class ClipOp(_ElementwiseOp):
    """min(max(x, min), max); relu6 is ``clip`` with min 0 and max 6."""

    name = "tg.clip"

    min = prop_def(FloatAttr)
    max = prop_def(FloatAttr)

    def __init__(self, input: SSAValue, min: float, max: float):
        super().__init__(input, {"min": FloatAttr(min, f32), "max": FloatAttr(max, f32)})

    @property
    def bounds(self) -> tuple[float, float]:
        return (self.min.value.data, self.max.value.data)

    def verify_(self) -> None:
        super().verify_()
        lo, hi = self.bounds
        if not lo <= hi:
            raise VerifyException(f"clip min {lo} is greater than max {hi}")


class _TableOp(_ElementwiseOp):
    """A smooth element-wise function. In INT8 it is a 256-entry int8 -> int8 table made
    from the input and output fix positions (bsir.quant.lookup_table): exact to the
    output's rounding, and one lookup per element on the core."""

    def function(self, x: np.ndarray) -> np.ndarray:
        """The float function, on float64 values."""
        raise NotImplementedError


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # 1 / (1 + e^-x), without overflow


@irdl_op_definition
class SigmoidOp(_TableOp):
    """1 / (1 + e^-x)."""

    name = "tg.sigmoid"

    def function(self, x: np.ndarray) -> np.ndarray:
        return _sigmoid(x)


@irdl_op_definition
class HardSigmoidOp(_TableOp):
    """max(0, min(1, alpha * x + beta)) (ONNX's HardSigmoid; PyTorch's is alpha 1/6,
    beta 0.5)."""

    name = "tg.hardsigmoid"

    alpha = prop_def(FloatAttr)
    beta = prop_def(FloatAttr)

    def __init__(self, input: SSAValue, alpha: float = 0.2, beta: float = 0.5):
        super().__init__(input, {"alpha": FloatAttr(alpha, f32), "beta": FloatAttr(beta, f32)})

    @property
    def coefficients(self) -> tuple[float, float]:
        return (self.alpha.value.data, self.beta.value.data)

    def function(self, x: np.ndarray) -> np.ndarray:
        alpha, beta = self.coefficients
        return np.clip(alpha * x + beta, 0.0, 1.0)

    def verify_(self) -> None:
        super().verify_()
        if not all(np.isfinite(self.coefficients)):
            raise VerifyException("hardsigmoid alpha and beta must be finite")


@irdl_op_definition
class HardSwishOp(_TableOp):
    """x * max(0, min(1, x / 6 + 1/2)) (MobileNet-v3)."""

    name = "tg.hardswish"

    def function(self, x: np.ndarray) -> np.ndarray:
        return x * np.clip(x / 6.0 + 0.5, 0.0, 1.0)


@irdl_op_definition
class SiluOp(_TableOp):
    """x * sigmoid(x) (SiLU, or swish; EfficientNet), one op where ONNX has a Sigmoid
    and a Mul."""

    name = "tg.silu"

    def function(self, x: np.ndarray) -> np.ndarray:
        return x * _sigmoid(x)


@irdl_op_definition
class TanhOp(_TableOp):
    """tanh(x) (MaxViT's classifier)."""

    name = "tg.tanh"

    def function(self, x: np.ndarray) -> np.ndarray:
        return np.tanh(x)


_ERF = np.frompyfunc(math.erf, 1, 1)


@irdl_op_definition
class GeluOp(_TableOp):
    """x * Phi(x), Phi the standard normal distribution: 0.5 x (1 + erf(x / sqrt 2));
    with ``tanh``, the tanh form 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))
    (transformers' MLP)."""

    name = "tg.gelu"

    tanh = opt_prop_def(UnitAttr)

    def __init__(self, input: SSAValue, tanh: bool = False):
        super().__init__(input, {"tanh": UnitAttr()} if tanh else {})

    @property
    def tanh_form(self) -> bool:
        return self.tanh is not None

    def function(self, x: np.ndarray) -> np.ndarray:
        if self.tanh_form:
            return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))
        return 0.5 * x * (1.0 + _ERF(x / math.sqrt(2.0)).astype(np.float64))


TABLE_OPS = (SigmoidOp, HardSigmoidOp, HardSwishOp, SiluOp, GeluOp, TanhOp)
"""Element-wise functions computed in INT8 by a table."""


@irdl_op_definition
class ChannelSliceOp(_TgOp):
    """Channels [start, stop) of an N x H x W x C tensor (ONNX Slice or Split on the
    channel axis)."""

    name = "tg.channel_slice"

    input = operand_def(TensorType)
    output = result_def(TensorType)
    start = prop_def(IntegerAttr)
    stop = prop_def(IntegerAttr)
    quant = opt_prop_def(QuantAttr)
    assembly_format = _UNARY_FORMAT

    def __init__(self, input: SSAValue, start: int, stop: int):
        n, h, w, _ = tensor_shape(input)
        element = input.type.element_type  # type: ignore[attr-defined]
        super().__init__(operands=[input],
                         result_types=[tensor_type((n, h, w, stop - start), element)],
                         properties={"start": IntegerAttr(start, i64),
                                     "stop": IntegerAttr(stop, i64)})

    @property
    def channels(self) -> tuple[int, int]:
        return (self.start.value.data, self.stop.value.data)

    def channel_map(self) -> tuple[int, ...]:
        """The input channel each output channel copies."""
        return tuple(range(*self.channels))

    def verify_(self) -> None:
        element = _check_same_element(self, [self.input])
        shape = tensor_shape(self.input)
        if len(shape) != 4:
            raise VerifyException("channel_slice needs an N x H x W x C input")
        start, stop = self.channels
        if not 0 <= start < stop <= shape[3]:
            raise VerifyException(f"channels [{start}, {stop}) are not within the input's "
                                  f"{shape[3]}")
        _check_result(self, (*shape[:3], stop - start), element)
        _check_quant(self, self.quant, [self.input], element)


@irdl_op_definition
class ChannelShuffleOp(_ElementwiseOp):
    """ShuffleNet's channel shuffle: C channels seen as ``groups`` x (C / groups),
    transposed: output channel j * groups + i is input channel i * (C / groups) + j."""

    name = "tg.channel_shuffle"

    groups = prop_def(IntegerAttr)

    def __init__(self, input: SSAValue, groups: int):
        super().__init__(input, {"groups": IntegerAttr(groups, i64)})

    @property
    def group_count(self) -> int:
        return self.groups.value.data

    def channel_map(self) -> tuple[int, ...]:
        """The input channel each output channel copies."""
        channels, groups = tensor_shape(self.input)[-1], self.group_count
        per = channels // groups
        return tuple((c % groups) * per + c // groups for c in range(channels))

    def verify_(self) -> None:
        super().verify_()
        shape = tensor_shape(self.input)
        if len(shape) != 4 or self.group_count < 1 or shape[3] % self.group_count:
            raise VerifyException(f"channel_shuffle needs N x H x W x C with C a multiple "
                                  f"of groups, got {list(shape)} and {self.group_count}")


MOVE_CHANNEL_OPS = (ChannelSliceOp, ChannelShuffleOp)
"""Ops that copy channels (in a permuted order) and compute nothing."""


@irdl_op_definition
class FlattenOp(_TgOp):
    """N x ... to N x prod(...), in NHWC element order."""

    name = "tg.flatten"

    input = operand_def(TensorType)
    output = result_def(TensorType)
    assembly_format = _UNARY_FORMAT

    def __init__(self, input: SSAValue):
        shape = shapes.flatten_output_shape(tensor_shape(input))
        element = input.type.element_type  # type: ignore[attr-defined]
        super().__init__(operands=[input], result_types=[tensor_type(shape, element)])

    def verify_(self) -> None:
        element = _check_same_element(self, [self.input])
        _check_result(self, shapes.flatten_output_shape(tensor_shape(self.input)), element)


@irdl_op_definition
class ReshapeOp(_TgOp):
    """Reinterprets a tensor in a new shape (row-major); the element count is kept."""

    name = "tg.reshape"

    input = operand_def(TensorType)
    output = result_def(TensorType)
    assembly_format = _UNARY_FORMAT

    def __init__(self, input: SSAValue, shape: Sequence[int]):
        element = input.type.element_type  # type: ignore[attr-defined]
        super().__init__(operands=[input], result_types=[tensor_type(shape, element)])

    def verify_(self) -> None:
        element = _check_same_element(self, [self.input])
        out = _check_tensor(self.output, "result")
        if out.element_type != element:
            raise VerifyException("reshape must keep the element type")
        src, dst = tensor_shape(self.input), tensor_shape(self.output)
        if int(np.prod(src)) != int(np.prod(dst)):
            raise VerifyException(
                f"reshape from {list(src)} to {list(dst)} changes the element count"
            )


# --------------------------------------------------------------------------- token ops
# Transformers' ops: activations of tokens x features, or heads x tokens x features,
# in the axis order the network writes them (a built-in model without a batch axis, an
# imported one with its batch of 1). Their INT8 arithmetic is bsir.layers' (softmax and
# layer norm exactly in integers); convert-tg-to-tiling has no mapping for them yet.


@irdl_op_definition
class TransposeOp(_TgOp):
    """Permutes the axes: output axis i is input axis ``perm[i]`` (heads to the front
    and back, keys transposed for Q K^T)."""

    name = "tg.transpose"

    input = operand_def(TensorType)
    output = result_def(TensorType)
    perm = prop_def(DenseArrayBase)
    assembly_format = _UNARY_FORMAT

    def __init__(self, input: SSAValue, perm: Sequence[int]):
        shape = shapes.transpose_output_shape(tensor_shape(input), perm)
        element = input.type.element_type  # type: ignore[attr-defined]
        super().__init__(operands=[input], result_types=[tensor_type(shape, element)],
                         properties={"perm": dense_i64(perm)})

    @property
    def axes(self) -> tuple[int, ...]:
        return _values(self.perm)

    def verify_(self) -> None:
        element = _check_same_element(self, [self.input])
        _check_result(self, shapes.transpose_output_shape(tensor_shape(self.input), self.axes),
                      element)


@irdl_op_definition
class SliceOp(_TgOp):
    """Elements [start, stop) along ``axis``, every ``step``-th (1 when absent): a
    transformer's class token (token 0), Swin's patch merging (every other row)."""

    name = "tg.slice"

    input = operand_def(TensorType)
    output = result_def(TensorType)
    axis = prop_def(IntegerAttr)
    start = prop_def(IntegerAttr)
    stop = prop_def(IntegerAttr)
    step = opt_prop_def(IntegerAttr)
    assembly_format = _UNARY_FORMAT

    def __init__(self, input: SSAValue, axis: int, start: int, stop: int, step: int = 1):
        shape = shapes.slice_output_shape(tensor_shape(input), axis, start, stop, step)
        element = input.type.element_type  # type: ignore[attr-defined]
        properties = {"axis": IntegerAttr(axis, i64), "start": IntegerAttr(start, i64),
                      "stop": IntegerAttr(stop, i64)}
        if step != 1:
            properties["step"] = IntegerAttr(step, i64)
        super().__init__(operands=[input], result_types=[tensor_type(shape, element)],
                         properties=properties)

    @property
    def bounds(self) -> tuple[int, int, int, int]:
        """(axis, start, stop, step)."""
        return (self.axis.value.data, self.start.value.data, self.stop.value.data,
                self.step.value.data if self.step is not None else 1)

    def verify_(self) -> None:
        element = _check_same_element(self, [self.input])
        _check_result(self, shapes.slice_output_shape(tensor_shape(self.input), *self.bounds),
                      element)


@irdl_op_definition
class SoftmaxOp(_ElementwiseOp):
    """e^x / sum(e^x) along the last axis (attention scores to weights)."""

    name = "tg.softmax"


@irdl_op_definition
class LayerNormOp(_TgOp):
    """(x - mean) / sqrt(var + eps) * weight + bias, mean and variance over the last
    axis of each token; ``weight`` and ``bias`` have one value per feature (in INT8:
    an i8 weight and an i32 bias, like a linear layer's)."""

    name = "tg.layer_norm"

    input = operand_def(TensorType)
    weight = operand_def(TensorType)
    bias = operand_def(TensorType)
    output = result_def(TensorType)
    epsilon = prop_def(FloatAttr)
    quant = opt_prop_def(QuantAttr)
    assembly_format = ("$input `,` $weight `,` $bias attr-dict `:` "
                       "functional-type(operands, results)")

    def __init__(self, input: SSAValue, weight: SSAValue, bias: SSAValue, eps: float = 1e-5):
        super().__init__(operands=[input, weight, bias], result_types=[input.type],
                         properties={"epsilon": FloatAttr(eps, f32)})

    @property
    def eps(self) -> float:
        return self.epsilon.value.data

    def verify_(self) -> None:
        element = _check_weighted_types(self, self.input, self.weight, self.bias)
        features = tensor_shape(self.input)[-1:]
        for what, value in (("weight", self.weight), ("bias", self.bias)):
            if tensor_shape(value) != features:
                raise VerifyException(f"layer_norm {what} must have shape {list(features)} "
                                      f"(one per feature), got {list(tensor_shape(value))}")
        if not (np.isfinite(self.eps) and self.eps > 0):
            raise VerifyException(f"layer_norm epsilon must be positive, got {self.eps}")
        _check_result(self, tensor_shape(self.input), element)
        _check_quant(self, self.quant, [self.input], element, weighted=True, has_bias=True)


@irdl_op_definition
class BatchMatmulOp(_BinaryOp):
    """The product of two activations, ``... x M x K`` times ``... x K x N``, one per
    index of the leading axes (attention: Q K^T and A V per head). Neither operand is a
    weight."""

    name = "tg.batch_matmul"

    def __init__(self, lhs: SSAValue, rhs: SSAValue):
        shape = shapes.batch_matmul_output_shape(tensor_shape(lhs), tensor_shape(rhs))
        element = lhs.type.element_type  # type: ignore[attr-defined]
        _TgOp.__init__(self, operands=[lhs, rhs], result_types=[tensor_type(shape, element)])

    def verify_(self) -> None:
        element = _check_same_element(self, [self.lhs, self.rhs])
        _check_result(self, shapes.batch_matmul_output_shape(tensor_shape(self.lhs),
                                                             tensor_shape(self.rhs)), element)
        _check_quant(self, self.quant, [self.lhs, self.rhs], element)


TOKEN_OPS = (TransposeOp, SliceOp, SoftmaxOp, LayerNormOp, BatchMatmulOp)
"""Transformers' ops, which the AIE2 mapping does not handle yet."""

MOVE_OPS = (FlattenOp, ReshapeOp, TransposeOp, SliceOp)
"""Ops that only move bytes: no #tg.quant, an i8 result keeps its input's fix position."""


@irdl_op_definition
class BatchNormOp(_TgOp):
    """Inference batch norm over the last axis: scale * (x - mean) / sqrt(var + eps) + shift."""

    name = "tg.batch_norm"

    input = operand_def(TensorType)
    scale = operand_def(TensorType)
    shift = operand_def(TensorType)
    mean = operand_def(TensorType)
    variance = operand_def(TensorType)
    output = result_def(TensorType)
    epsilon = prop_def(FloatAttr)
    assembly_format = (
        "$input `,` $scale `,` $shift `,` $mean `,` $variance attr-dict `:` "
        "functional-type(operands, results)"
    )

    def __init__(self, input: SSAValue, scale: SSAValue, shift: SSAValue, mean: SSAValue,
                 variance: SSAValue, epsilon: float = 1e-5):
        super().__init__(
            operands=[input, scale, shift, mean, variance],
            result_types=[input.type],
            properties={"epsilon": FloatAttr(epsilon, f32)},
        )

    @property
    def eps(self) -> float:
        return self.epsilon.value.data

    def verify_(self) -> None:
        x = _check_tensor(self.input, "input")
        if x.element_type != FLOAT:
            raise VerifyException("batch_norm works on f32 (fold it before quantizing)")
        channels = tensor_shape(self.input)[-1]
        for what in ("scale", "shift", "mean", "variance"):
            value = getattr(self, what)
            _check_tensor(value, what)
            if tensor_shape(value) != (channels,):
                raise VerifyException(
                    f"batch_norm {what} must have shape [{channels}], got "
                    f"{list(tensor_shape(value))}"
                )
            if value.type.element_type != FLOAT:
                raise VerifyException(f"batch_norm {what} must be f32")
        _check_result(self, tensor_shape(self.input), FLOAT)
        if self.eps <= 0:
            raise VerifyException(f"batch_norm epsilon must be positive, got {self.eps}")


class _FixConversionOp(_TgOp):
    input = operand_def(TensorType)
    output = result_def(TensorType)
    fix = prop_def(IntegerAttr)
    assembly_format = _UNARY_FORMAT

    SOURCE_ELEMENT: ClassVar[Attribute]
    RESULT_ELEMENT: ClassVar[Attribute]

    def __init__(self, input: SSAValue, fix: int):
        result = tensor_type(tensor_shape(input), self.RESULT_ELEMENT)
        super().__init__(operands=[input], result_types=[result],
                         properties={"fix": IntegerAttr(fix, i64)})

    @property
    def fix_position(self) -> int:
        return self.fix.value.data

    def verify_(self) -> None:
        source = _check_tensor(self.input, "input")
        if source.element_type != self.SOURCE_ELEMENT:
            raise VerifyException(f"'{self.name}' takes {self.SOURCE_ELEMENT} tensors")
        _check_result(self, tensor_shape(self.input), self.RESULT_ELEMENT)


@irdl_op_definition
class QuantizeOp(_FixConversionOp):
    """f32 to i8 at fix position ``fix``: round half up, saturate (bsir.quant)."""

    name = "tg.quantize"
    SOURCE_ELEMENT: ClassVar[Attribute] = FLOAT
    RESULT_ELEMENT: ClassVar[Attribute] = INT8


@irdl_op_definition
class DequantizeOp(_FixConversionOp):
    """i8 at fix position ``fix`` back to f32."""

    name = "tg.dequantize"
    SOURCE_ELEMENT: ClassVar[Attribute] = INT8
    RESULT_ELEMENT: ClassVar[Attribute] = FLOAT

    def verify_(self) -> None:
        super().verify_()
        produced = activation_fix(self.input)
        if produced is not None and produced != self.fix_position:
            raise VerifyException(
                f"input is produced at fix position {produced}, not {self.fix_position}"
            )


WEIGHTED_OPS = (Conv2dOp, MatmulOp)
"""Ops whose weight can be block-sparse and is counted in MACs."""


def only_graph(module: Operation) -> GraphOp:
    """The module's single tg.graph."""
    graphs = [op for op in module.regions[0].block.ops if isinstance(op, GraphOp)]
    if len(graphs) != 1:
        raise VerifyException(f"expected one tg.graph in the module, found {len(graphs)}")
    return graphs[0]


def is_quantized(graph: GraphOp) -> bool:
    """Has ``tg-quantize`` rewritten the graph to INT8 (it starts with a tg.quantize)?"""
    return any(isinstance(op, QuantizeOp) for op in graph.body.block.ops)


def layer_names(graph: GraphOp) -> dict[Operation, str]:
    """A stable name for every op of the graph: its weight key's prefix (``layer1.0.conv1``,
    a layer norm's ``encoder.ln``) or its kind and index (``maxpool2d_4``).

    The index counts the ops of the graph other than ``tg.quantize`` and
    ``tg.dequantize``, so a layer keeps its name whether the graph is quantized or not.
    """
    names: dict[Operation, str] = {}
    index = 0
    for op in graph.body.block.ops:
        if isinstance(op, QuantizeOp | DequantizeOp):
            names[op] = f"{op.name.split('.', 1)[1]}_{index}"
            continue
        weight = op.weight if isinstance(op, (*WEIGHTED_OPS, LayerNormOp)) else None
        if isinstance(op, BatchNormOp):
            weight = op.scale
        owner = weight.owner if weight is not None else None
        if isinstance(owner, WeightOp):
            key = owner.key.data
            names[op] = key.rsplit(".", 1)[0] if key.endswith((".weight", ".w")) else key
        else:
            names[op] = f"{op.name.split('.', 1)[1]}_{index}"
        index += 1
    return names

LAYER_OPS = (
    Conv2dOp, MatmulOp, MaxPool2dOp, AvgPool2dOp, GlobalAvgPoolOp, AddOp, MulOp, SubOp,
    ConcatOp,
    ReluOp, ClipOp, *TABLE_OPS, *MOVE_CHANNEL_OPS, FlattenOp, ReshapeOp, BatchNormOp,
    *TOKEN_OPS, QuantizeOp, DequantizeOp,
)

TG = Dialect(
    "tg",
    [GraphOp, OutputOp, WeightOp, *LAYER_OPS],
    [SparsityAttr, QuantAttr],
)

__all__ = [
    "FLOAT",
    "GATED_OPS",
    "INT8",
    "INT32",
    "LAYER_OPS",
    "MOVE_CHANNEL_OPS",
    "MOVE_OPS",
    "TABLE_OPS",
    "TG",
    "TOKEN_OPS",
    "WEIGHTED_OPS",
    "WEIGHTS_ATTR",
    "AddOp",
    "AvgPool2dOp",
    "BatchMatmulOp",
    "BatchNormOp",
    "ChannelShuffleOp",
    "ChannelSliceOp",
    "ClipOp",
    "ConcatOp",
    "Conv2dOp",
    "DequantizeOp",
    "FlattenOp",
    "GeluOp",
    "GlobalAvgPoolOp",
    "GraphOp",
    "HardSigmoidOp",
    "HardSwishOp",
    "LayerNormOp",
    "MatmulOp",
    "MaxPool2dOp",
    "MulOp",
    "OutputOp",
    "QuantAttr",
    "QuantizeOp",
    "ReluOp",
    "ReshapeOp",
    "SigmoidOp",
    "SiluOp",
    "SliceOp",
    "SoftmaxOp",
    "SparsityAttr",
    "SubOp",
    "TanhOp",
    "TransposeOp",
    "WeightOp",
    "activation_fix",
    "dense_i64",
    "is_quantized",
    "layer_names",
    "only_graph",
    "tensor_shape",
    "tensor_type",
]
