"""INT8 with power-of-two scales: the one definition of every rounding bsir does.

A tensor at *fix position* p holds integers q with ``real = q * 2**-p``. Activations and
weights are int8, biases and accumulators int32/int64.

The rounding rule, used everywhere (quantization, requantization, averaging):
**round half up**, i.e. towards +infinity on ties: ``round(v) = floor(v + 1/2)``.
For an integer ``a`` scaled by ``2**-s`` this is the arithmetic shift
``(a + 2**(s-1)) >> s``; for a ratio ``n / d`` (d > 0) it is ``(2n + d) // (2d)``.
Results are then saturated to [-128, 127]. The functional simulator uses these same
functions, so the two agree bit for bit.
"""

from __future__ import annotations

import numpy as np

INT8_MIN, INT8_MAX = -128, 127
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def saturate_int8(values: np.ndarray) -> np.ndarray:
    """Clamp to [-128, 127] and narrow to int8."""
    return np.clip(values, INT8_MIN, INT8_MAX).astype(np.int8)


def round_shift(values: np.ndarray, shift: int) -> np.ndarray:
    """``values * 2**-shift`` rounded half up, on int64 (a left shift when shift < 0)."""
    values = np.asarray(values, dtype=np.int64)
    if shift > 0:
        return (values + (1 << (shift - 1))) >> shift
    return values << (-shift)


def round_divide(numerator: np.ndarray, denominator: np.ndarray | int) -> np.ndarray:
    """``numerator / denominator`` rounded half up, exactly, on int64 (denominator > 0)."""
    num = np.asarray(numerator, dtype=np.int64)
    den = np.asarray(denominator, dtype=np.int64)
    return (2 * num + den) // (2 * den)


def requantize(accumulator: np.ndarray, from_fix: int, to_fix: int) -> np.ndarray:
    """An int64 accumulator at ``from_fix`` as int8 at ``to_fix`` (round, saturate)."""
    return saturate_int8(round_shift(accumulator, from_fix - to_fix))


def quantize(values: np.ndarray, fix: int, bits: int = 8) -> np.ndarray:
    """Float to integers at ``fix``: round half up, saturate to ``bits`` (8 or 32)."""
    scaled = np.floor(np.asarray(values, dtype=np.float64) * 2.0**fix + 0.5)
    if bits == 8:
        return saturate_int8(scaled)
    if bits == 32:
        return np.clip(scaled, INT32_MIN, INT32_MAX).astype(np.int32)
    raise ValueError(f"bits must be 8 or 32, got {bits}")


def dequantize(values: np.ndarray, fix: int) -> np.ndarray:
    """Integers at ``fix`` back to float32."""
    return (np.asarray(values, dtype=np.float64) * 2.0**-fix).astype(np.float32)


def max_fix_position(max_abs: float, bits: int = 8) -> int:
    """The largest fix position at which ``max_abs`` does not overflow a signed integer
    of ``bits`` (8 or 32)."""
    if not np.isfinite(max_abs):
        raise ValueError("cannot quantize a tensor holding inf or nan")
    largest = INT8_MAX if bits == 8 else INT32_MAX
    if max_abs <= 0:
        return bits - 1
    position = int(np.floor(np.log2(largest / max_abs)))
    while max_abs * 2.0**position + 0.5 > largest + 0.5:  # guard floating rounding
        position -= 1
    return position


def quantization_error(values: np.ndarray, fix: int) -> float:
    """Sum of squared errors of quantizing ``values`` at ``fix`` and back."""
    values = np.asarray(values, dtype=np.float64)
    back = np.clip(np.floor(values * 2.0**fix + 0.5), INT8_MIN, INT8_MAX) * 2.0**-fix
    return float(np.sum((back - values) ** 2))


def choose_fix_position(values: np.ndarray, method: str = "mse", candidates: int = 3) -> int:
    """The fix position of a tensor.

    ``max``: the largest position that does not overflow. ``mse``: of that position and
    the ``candidates`` above it (finer steps, clipping the largest values), the one with
    the least squared error, as Vitis AI's quantizer chooses.
    """
    values = np.asarray(values)
    base = max_fix_position(float(np.max(np.abs(values))) if values.size else 0.0)
    if method == "max":
        return base
    if method != "mse":
        raise ValueError(f"unknown calibration method '{method}' (max or mse)")
    errors = [quantization_error(values, base + k) for k in range(candidates + 1)]
    return base + int(np.argmin(errors))


def lookup_table(function, in_fix: int, out_fix: int) -> np.ndarray:
    """The int8 -> int8 table of an element-wise ``function`` (float64 in, float64 out):
    entry ``q + 128`` is ``function(q * 2^-in_fix)`` quantized at ``out_fix`` (round half
    up, saturate), so a lookup gives exactly what quantizing the float result would."""
    codes = np.arange(INT8_MIN, INT8_MAX + 1, dtype=np.float64)
    return quantize(function(codes * 2.0**-in_fix), out_fix)


def apply_table(table: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``table`` (from :func:`lookup_table`) applied to int8 ``values``."""
    return table[np.asarray(values, dtype=np.int16) - INT8_MIN]
