"""Weights drawn only when read: the same values as drawing them all, and a dense time
estimate that never draws them."""

import numpy as np

from bsir.driver.compile import CompileOptions, compile_source
from bsir.models import build_model
from bsir.passes.tg_fold_batchnorm import fold_batchnorms
from bsir.weights import LazyWeights, materialize


def test_lazy_values_are_the_drawn_values_in_any_order():
    specs = build_model("tiny_resnet").specs
    eager = materialize(specs, 3)
    lazy = LazyWeights(specs, 3)
    assert set(lazy) == set(eager) and len(lazy) == len(eager)
    for key in reversed(list(eager)):
        assert np.array_equal(lazy[key], eager[key])


def test_folding_lazily_gives_the_eager_fold():
    eager_model, lazy_model = build_model("tiny_resnet"), build_model("tiny_resnet")
    eager = fold_batchnorms(eager_model.module, materialize(eager_model.specs, 0))
    lazy = fold_batchnorms(lazy_model.module, LazyWeights(lazy_model.specs, 0))
    assert isinstance(lazy, LazyWeights)
    assert not any(lazy.is_made(k) for k in lazy if k.endswith("conv1.weight"))
    assert set(lazy) == set(eager)
    for key, value in eager.items():
        assert lazy[key].dtype == value.dtype and np.array_equal(lazy[key], value), key


def test_a_dense_estimate_draws_no_weight():
    result = compile_source("vgg16", "2x2", options=CompileOptions(quantize=False))
    assert isinstance(result.weights, LazyWeights)
    assert not any(result.weights.is_made(key) for key in result.weights)
    program = compile_source("tiny_resnet", "2x2", options=CompileOptions(quantize=True))
    assert program.verify().layers == len(program.layers)
