"""bsir.kernels: block-sparse x dense products equal dense numpy, native and numpy."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bsir.kernels as kernels
from bsir.compaction import pack
from bsir.sparsity import grid_shape


def dense_reference(weight, mask, block):
    """The weight with dropped blocks zeroed, as COUT x (KH*KW*CIN)."""
    bo, bi = block
    keep = np.repeat(np.repeat(mask, bo, 0), bi, 1)[:weight.shape[0], :weight.shape[-1]]
    keep = keep[:, None, None, :] if weight.ndim == 4 else keep
    return np.where(keep, weight, 0).reshape(weight.shape[0], -1)


def random_case(rng, shape, block, density, integer):
    mask = rng.random(grid_shape(shape, block)) < density
    if integer:
        weight = rng.integers(-128, 128, shape).astype(np.int8)
    else:
        weight = rng.standard_normal(shape).astype(np.float32)
    return weight, mask


@pytest.fixture(params=["native", "numpy"])
def kernel_backend(request, monkeypatch):
    if request.param == "numpy":
        monkeypatch.setenv("BSIR_KERNELS", "numpy")
    elif kernels.backend() == "numpy":
        pytest.skip("the native kernels are not built")
    kernels._library.cache_clear()
    yield request.param
    kernels._library.cache_clear()


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # the backend stays
@given(cout=st.integers(1, 40), cin=st.integers(1, 40), taps=st.sampled_from([1, 4, 9]),
       n=st.integers(1, 150),
       block=st.sampled_from([(8, 8), (4, 4), (1, 1), (16, 4), (4, 16), (2, 8), (3, 5)]),
       density=st.sampled_from([0.0, 0.1, 0.5, 0.9, 1.0]), integer=st.booleans(),
       seed=st.integers(0, 2**16))
def test_products_equal_dense_numpy(kernel_backend, cout, cin, taps, n, block, density,
                                    integer, seed):
    rng = np.random.default_rng(seed)
    shape = (cout, cin) if taps == 1 else (cout, int(np.sqrt(taps)), int(np.sqrt(taps)), cin)
    weight, mask = random_case(rng, shape, block, density, integer)
    packed = pack(weight, mask, block)
    k = int(np.prod(shape[1:]))
    if integer:
        x = rng.integers(-128, 128, (k, n)).astype(np.int8)
        expected = dense_reference(weight, mask, block).astype(np.int64) @ x.astype(np.int64)
        got = kernels.bsr_matmul(packed, x)
        assert got.dtype == np.int32 and np.array_equal(got, expected)
    else:
        x = rng.standard_normal((k, n)).astype(np.float32)
        expected = dense_reference(weight, mask, block).astype(np.float64) @ x
        got = kernels.bsr_matmul(packed, x, threads=2)
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * np.sqrt(k))


def test_wrong_operands_are_refused():
    packed = pack(np.ones((8, 8), np.float32), np.ones((1, 1), bool), (8, 8))
    with pytest.raises(ValueError, match="x must be 8 x N"):
        kernels.bsr_matmul(packed, np.ones((7, 3), np.float32))
    with pytest.raises(ValueError, match="both be float32 or both int8"):
        kernels.bsr_matmul(packed, np.ones((8, 3), np.int8))


def test_the_native_kernels_are_built_here():
    """CI builds the C extension; its absence would silently cost the speed."""
    assert kernels.backend().startswith("native")


def test_block_columns_in_any_order_within_a_row():
    """Several reduction chunks (512 columns): every block is used whatever its order."""
    rng = np.random.default_rng(3)
    weight = rng.standard_normal((16, 512)).astype(np.float32)
    packed = pack(weight, np.ones((2, 64), bool), (8, 8))
    order = np.concatenate([rng.permutation(64), 64 + rng.permutation(64)])
    shuffled = type(packed)(packed.shape, packed.block, packed.blocks[order],
                            packed.row_ptr, packed.col_idx[order])
    x = rng.standard_normal((512, 30)).astype(np.float32)
    np.testing.assert_allclose(kernels.bsr_matmul(shuffled, x), weight @ x, rtol=1e-4,
                               atol=1e-3)


@pytest.mark.parametrize("quantize", [True, False])
def test_the_executor_computes_sparse_layers_with_the_kernel(quantize):
    from bsir.driver.compile import CompileOptions, compile_module
    from bsir.executor import Executor, random_inputs
    from bsir.models import build_model
    from bsir.weights import materialize

    if kernels.backend() == "numpy":
        pytest.skip("the native kernels are not built")
    built = build_model("tiny_resnet")
    x = random_inputs(built.module, 1, 1)[0]
    result = compile_module(built.module, materialize(built.specs, 0), "2x2", "shared",
                            CompileOptions(0.5, quantize=quantize, calibration=tuple(x)))
    sparse = Executor(result.module, result.weights, block_sparse_kernels=True)
    dense = Executor(result.module, result.weights, block_sparse_kernels=False)
    got, want = sparse.run(x), dense.run(x)
    assert len(sparse._packed_weights) > 0 and not dense._packed_weights
    for a, b in zip(got, want, strict=True):
        if quantize:
            assert np.array_equal(a, b)  # exact int8 arithmetic, dequantized at the end
        else:
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
