"""``bsir compile --verify``: the simulated program against the reference executor.

The reference executor runs the compiled module itself (each ``aie2.layer`` computes
as the tg ops it wraps); the functional simulator runs its instructions. After every
layer the bytes the program stored are compared with the reference's result (moved to
a concatenation's fix position where the layer writes into one), and the network's
outputs are compared at the end, bit for bit. The first difference is reported with
its layer and element.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import SSAValue

from bsir.diagnostics import BsirError, op_location
from bsir.dialects import aie2
from bsir.dialects.tg import only_graph
from bsir.executor import Executor
from bsir.targets.aie2.layout import value_views
from bsir.targets.aie2.simulator import Simulator


class VerificationError(BsirError):
    """The simulated program and the reference executor disagree."""


@dataclass(frozen=True)
class VerifyReport:
    layers: int
    elements: int
    reference_s: float
    simulation_s: float


def first_difference(expected: np.ndarray, got: np.ndarray) -> str:
    index = tuple(int(i) for i in np.argwhere(expected != got)[0])
    count = int(np.count_nonzero(expected != got))
    return (f"element {list(index)} is {got[index]}, the reference has {expected[index]} "
            f"({count} of {expected.size} elements differ)")


def verify_compiled(module: ModuleOp, weights: dict[str, np.ndarray],
                    inputs: Sequence[np.ndarray]) -> VerifyReport:
    """Simulate ``module`` on ``inputs`` and compare every layer with the reference."""
    reference: dict[SSAValue, np.ndarray] = {}

    def keep(value: SSAValue, array: np.ndarray) -> None:
        if isinstance(value.owner, aie2.LayerOp):
            reference[value] = array

    start = time.perf_counter()
    expected_outputs = Executor(module, weights).run(inputs, keep)
    reference_s = time.perf_counter() - start
    views = value_views(only_graph(module).block)
    checked = [0, 0]

    def compare(layer: aie2.LayerOp, stored: np.ndarray) -> None:
        expected = views[layer.output].requantize(reference.pop(layer.output))
        if expected.shape != stored.shape or not np.array_equal(expected, stored):
            raise VerificationError(
                f"layer '{layer.layer_name.data}' differs from the reference: "
                f"{first_difference(expected, stored)}", op_location(layer))
        checked[0] += 1
        checked[1] += stored.size

    start = time.perf_counter()
    outputs = Simulator(module, weights).run(inputs, compare)
    simulation_s = time.perf_counter() - start
    for index, (want, got) in enumerate(zip(expected_outputs, outputs, strict=True)):
        if want.shape != got.shape or not np.array_equal(want, got):
            raise VerificationError(f"network output {index} differs from the reference: "
                                    f"{first_difference(want, got)}")
    return VerifyReport(checked[0], checked[1], reference_s, simulation_s)
