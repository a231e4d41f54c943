"""The rounding rule (round half up) and fix-position choice, by hand."""

import numpy as np
import pytest

from bsir import quant


def test_round_shift_is_round_half_up():
    values = np.array([5, -5, 6, -6, 7, -7, 3, -3])
    # /2: 2.5->3, -2.5->-2, 3, -3, 3.5->4, -3.5->-3, 1.5->2, -1.5->-1
    assert quant.round_shift(values, 1).tolist() == [3, -2, 3, -3, 4, -3, 2, -1]
    assert quant.round_shift(np.array([3]), -2).tolist() == [12]
    assert quant.round_shift(np.array([-9]), 0).tolist() == [-9]


def test_round_divide_matches_round_half_up():
    num = np.arange(-20, 21)
    for den in (1, 2, 3, 4, 9):
        expected = np.floor(num / den + 0.5).astype(np.int64)
        assert quant.round_divide(num, den).tolist() == expected.tolist()


def test_quantize_saturates_and_rounds():
    x = np.array([0.0, 0.24, 0.25, -0.25, 100.0, -100.0, 1.0])
    assert quant.quantize(x, 1).tolist() == [0, 0, 1, 0, 127, -128, 2]
    assert quant.quantize(np.array([1e12]), 4, bits=32).tolist() == [2**31 - 1]
    assert quant.dequantize(np.array([3, -128], np.int8), 2).tolist() == [0.75, -32.0]


def test_requantize():
    acc = np.array([1000, -1000, 40000])
    # from fix 6 to fix 2: /16 rounded half up: 62.5->63, -62.5->-62, 2500->127 saturated
    assert quant.requantize(acc, 6, 2).tolist() == [63, -62, 127]


@pytest.mark.parametrize("max_abs, expected", [
    (1.0, 6), (0.99, 7), (127.0, 0), (128.0, -1), (0.01, 13), (0.0, 7),
])
def test_max_fix_position(max_abs, expected):
    assert quant.max_fix_position(max_abs) == expected
    if max_abs:
        assert max_abs * 2.0**expected <= 127 < max_abs * 2.0 ** (expected + 1)


def test_mse_prefers_clipping_a_rare_outlier():
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.standard_normal(10000) * 0.1, [4.0]])
    base = quant.choose_fix_position(values, "max")
    best = quant.choose_fix_position(values, "mse", candidates=3)
    assert base == quant.max_fix_position(4.0)
    assert best > base
    errors = [quant.quantization_error(values, base + k) for k in range(4)]
    assert quant.quantization_error(values, best) == min(errors)


def test_bad_method_and_nan():
    with pytest.raises(ValueError, match="unknown calibration method"):
        quant.choose_fix_position(np.ones(3), "median")
    with pytest.raises(ValueError, match="inf or nan"):
        quant.max_fix_position(float("nan"))
