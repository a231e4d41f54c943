"""Parameters, multiply-accumulates and shapes of a tg graph, layer by layer.

Learnable parameters are convolution and linear weights and biases and batch-norm
scale and shift; batch-norm running statistics are not counted. MACs count
convolutions and linear layers only.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation, SSAValue

from bsir.dialects import tg
from bsir.dialects import tg_shapes as shapes
from bsir.dialects.tg import layer_names, only_graph


@dataclass(frozen=True)
class LayerStats:
    """One layer: its name, op, shapes, learnable parameters, MACs and density."""

    name: str
    op: str
    input_shapes: tuple[tuple[int, ...], ...]
    output_shape: tuple[int, ...]
    weight_shape: tuple[int, ...] | None
    params: int
    macs: int
    density: float = 1.0

    @property
    def macs_computed(self) -> int:
        """MACs left once zero blocks are skipped (whole blocks of the mask)."""
        return round(self.macs * self.density)


def _learnable(op: Operation) -> list[SSAValue]:
    """The trained weights an op reads: every weight operand (a layer's, a layer norm's,
    a transformer's class token and positions) but a batch norm's running statistics."""
    if isinstance(op, tg.BatchNormOp):
        return [op.scale, op.shift]
    return [v for v in op.operands if isinstance(v.owner, tg.WeightOp)]


def op_macs(op: Operation) -> tuple[int, float]:
    """(dense MACs, density of kept blocks) of a conv or linear op, or of a product of
    two activations (dense); (0, 1.0) otherwise."""
    if isinstance(op, tg.BatchMatmulOp):
        return shapes.batch_matmul_macs(tg.tensor_shape(op.lhs), tg.tensor_shape(op.rhs)), 1.0
    if not isinstance(op, tg.WEIGHTED_OPS):
        return 0, 1.0
    weight_shape = tg.tensor_shape(op.weight)
    out_shape = tg.tensor_shape(op.output)
    if isinstance(op, tg.Conv2dOp):
        macs = shapes.conv2d_macs(out_shape, weight_shape)
    else:
        macs = shapes.matmul_macs(out_shape, weight_shape)
    return macs, op.sparsity.density() if op.sparsity is not None else 1.0


def layer_stats(module: ModuleOp) -> list[LayerStats]:
    """Statistics of every layer op of the module's graph, in program order."""
    graph = only_graph(module)
    names = layer_names(graph)
    counted: set[SSAValue] = set()
    out: list[LayerStats] = []
    for op in graph.block.ops:
        if not isinstance(op, tg.LAYER_OPS):
            continue
        params = 0
        for value in _learnable(op):
            if value not in counted:
                counted.add(value)
                params += prod(tg.tensor_shape(value))
        macs, density = op_macs(op)
        weight_shape = tg.tensor_shape(op.weight) if isinstance(op, tg.WEIGHTED_OPS) else None
        activations = [v for v in op.operands if not isinstance(v.owner, tg.WeightOp)]
        out.append(LayerStats(
            name=names[op],
            op=op.name,
            input_shapes=tuple(tg.tensor_shape(v) for v in activations),
            output_shape=tg.tensor_shape(op.results[0]),
            weight_shape=weight_shape,
            params=params,
            macs=macs,
            density=density,
        ))
    return out


@dataclass(frozen=True)
class ModelSummary:
    name: str
    input_shape: tuple[int, ...]
    params: int
    macs: int
    layers: int
    weighted_layers: int


def summarize(module: ModuleOp) -> ModelSummary:
    """Totals of a module's graph."""
    graph = only_graph(module)
    stats = layer_stats(module)
    return ModelSummary(
        name=graph.sym_name.data,
        input_shape=tg.tensor_shape(graph.block.args[0]) if graph.block.args else (),
        params=sum(s.params for s in stats),
        macs=sum(s.macs for s in stats),
        layers=len(stats),
        weighted_layers=sum(1 for s in stats if s.weight_shape is not None),
    )
