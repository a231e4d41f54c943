"""aie2-form-lock-chains: matched acquires and releases, and no token-free lock cycle."""

import pytest
from xdsl.dialects.builtin import IntegerAttr, i64
from xdsl.utils.exceptions import PassFailedException

from bsir.dialects import aie2
from bsir.dialects.tg import only_graph
from bsir.driver.compile import compile_module
from bsir.models import build_model
from bsir.passes.aie2_form_lock_chains import check_chains
from bsir.weights import materialize


@pytest.fixture
def layers():
    model = build_model("tiny_resnet")
    result = compile_module(model.module, materialize(model.specs, 0), "2x2")
    return [op for op in only_graph(result.module).block.ops if isinstance(op, aie2.LayerOp)]


def test_generated_chains_pass(layers):
    for layer in layers:
        assert layer.locks.get("init") == (2, 0, 0)
        check_chains(layer)
        for op in layer.instructions:
            if isinstance(op, aie2.LoadFMOp):
                assert (op.field("acquire"), op.field("release")) == (0, 1)


def test_an_unmatched_release_is_caught(layers):
    comp = next(op for op in layers[0].instructions if isinstance(op, aie2.CompOp))
    comp.properties["release"] = IntegerAttr(1, i64)   # COMP hands its lock back to itself
    with pytest.raises(PassFailedException, match=r"lock k1 is acquired by \['COMP'\] but "
                                                  r"released by \['LOADFM', 'COMP'\]"):
        check_chains(layers[0])


def test_a_ring_without_tokens_is_a_deadlock(layers):
    layers[0].properties["locks"] = aie2.LocksAttr.make(init=[0, 0, 0])
    with pytest.raises(PassFailedException, match=r"deadlock: the lock cycle k0 -> k1 -> k2 "
                                                  r"-> k0 holds no token"):
        check_chains(layers[0])
