"""The reference engine: float path against dense numpy, fixed-point path against an independent
integer model written out here, golden rounding and saturation cases."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from eie.engine import reference
from eie.engine.fixed_point import FixedPointFormat, quantize, sqnr_db
from eie.errors import ConfigError, EngineError
from eie.formats import EIEMatrix


def random_layer(seed: int, rows: int, cols: int, density: float, num_pes: int,
                 index_bits: int = 4) -> EIEMatrix:
    rng = np.random.default_rng(seed)
    codes = np.where(rng.random((rows, cols)) < density, rng.integers(1, 16, (rows, cols)), 0)
    cb = np.concatenate(([0.0], rng.uniform(-0.5, 0.5, 15))).astype(np.float32)
    return EIEMatrix.from_codes(codes, cb, num_pes, index_bits)


@given(st.integers(0, 2**31), st.sampled_from([1, 3, 15, 16, 17, 33]),
       st.sampled_from([1, 3, 16, 33]), st.sampled_from([1, 2, 4, 64]),
       st.sampled_from([0.0, 0.3, 1.0]), st.booleans())
def test_float_path_matches_dense(seed: int, rows: int, cols: int, pes: int, act_density: float,
                                  relu: bool) -> None:
    m = random_layer(seed, rows, cols, 0.3, pes, index_bits=2)
    rng = np.random.default_rng(seed + 1)
    x = np.where(rng.random(cols) < act_density, rng.normal(size=cols), 0.0).astype(np.float32)
    b = rng.normal(size=rows).astype(np.float32)
    y = reference.spmv(m, x, b, "relu" if relu else None)
    expected = m.to_dense().astype(np.float64) @ x.astype(np.float64) + b
    if relu:
        expected = np.maximum(expected, 0)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)


def test_zero_activations_are_never_visited(monkeypatch: pytest.MonkeyPatch) -> None:
    """Columns with x[j] == 0 contribute nothing, even if their weights are NaN-free garbage."""
    m = random_layer(0, 20, 10, 0.5, 4)
    x = np.zeros(10, np.float32)
    x[3] = 2.0
    y = reference.spmv(m, x)
    np.testing.assert_allclose(y, m.to_dense()[:, 3] * 2.0, rtol=1e-6)
    np.testing.assert_array_equal(reference.spmv(m, np.zeros(10, np.float32)), np.zeros(20))


def fixed_oracle(m: EIEMatrix, xq: np.ndarray, bias: np.ndarray | None, relu: bool,
                 fmt: FixedPointFormat) -> np.ndarray:
    """Row by row in Python integers, straight from the spec in fixed_point.py's docstring."""
    codes = m.to_codes()
    wq = [int(v) for v in quantize(m.codebook, fmt.weight_frac_bits)]
    out = []
    for i in range(m.rows):
        acc = sum(wq[int(codes[i, j])] * int(xq[j]) for j in range(m.cols) if xq[j] != 0)
        if bias is not None:
            acc += int(np.floor(float(bias[i]) * 2.0**fmt.acc_frac_bits + 0.5))
        v = (acc + (1 << (fmt.weight_frac_bits - 1))) >> fmt.weight_frac_bits
        v = min(max(v, -32768), 32767)
        out.append(max(v, 0) if relu else v)
    return np.array(out, np.int16)


@given(st.integers(0, 2**31), st.sampled_from([1, 5, 17]), st.sampled_from([1, 4, 16]),
       st.sampled_from([1, 4, 64]), st.booleans(), st.integers(4, 12), st.integers(8, 15))
def test_fixed_path_is_bit_exact_with_the_integer_spec(seed: int, rows: int, cols: int, pes: int,
                                                       relu: bool, af: int, wf: int) -> None:
    m = random_layer(seed, rows, cols, 0.5, pes)
    fmt = FixedPointFormat(act_frac_bits=af, weight_frac_bits=wf)
    rng = np.random.default_rng(seed)
    xq = np.where(rng.random(cols) < 0.5, rng.integers(-3000, 3000, cols), 0).astype(np.int16)
    bias = rng.normal(size=rows).astype(np.float32)
    got = reference.spmv_fixed(m, xq, bias, "relu" if relu else None, fmt)
    np.testing.assert_array_equal(got, fixed_oracle(m, xq, bias, relu, fmt))


def test_fixed_point_golden_values() -> None:
    fmt = FixedPointFormat(act_frac_bits=8, weight_frac_bits=12)
    assert quantize([1.5, -1.5, 0.5 / 256, -0.5 / 256, 1e9, -1e9], 8).tolist() == \
        [384, -384, 1, 0, 32767, -32768]  # round half up, saturate
    acc = np.array([2048, 2047, -2048, -2049, 2**40, -(2**40)], np.int64)
    assert fmt.narrow(acc, relu=False).tolist() == [1, 0, 0, -1, 32767, -32768]
    assert fmt.narrow(acc, relu=True).tolist() == [1, 0, 0, 0, 32767, 0]
    m = EIEMatrix.from_codes([[1]], [0.0, 0.25], num_pes=1)
    assert reference.spmv_fixed(m, np.array([384], np.int16), fmt=fmt).tolist() == [96]  # 0.375
    # Saturation, not wrap-around: 100 * 100 = 10000 does not fit 16 bits with 8 fraction bits.
    big = EIEMatrix.from_codes([[1]], [0.0, 7.9], num_pes=1)
    x = fmt.quantize_act([100.0])
    assert reference.spmv_fixed(big, x, fmt=fmt).tolist() == [32767]
    assert reference.spmv_fixed(big, -x, fmt=fmt).tolist() == [-32768]


def test_sqnr_of_fixed_against_float() -> None:
    m = random_layer(5, 64, 128, 0.2, 8)
    rng = np.random.default_rng(5)
    x = np.where(rng.random(128) < 0.4, rng.random(128), 0.0).astype(np.float32)
    y = reference.spmv(m, x)
    fmt = FixedPointFormat.for_data(float(np.abs(x).max() * 4), float(np.abs(m.codebook).max()))
    yq = reference.spmv_quantized(m, x, fmt=fmt)
    assert sqnr_db(y, yq) > 40.0  # 16-bit fixed point: about 6 dB per bit of headroom left
    coarse = FixedPointFormat(act_frac_bits=2, weight_frac_bits=3)
    assert sqnr_db(y, reference.spmv_quantized(m, x, fmt=coarse)) < sqnr_db(y, yq)
    assert sqnr_db(y, y) == float("inf")


def test_input_errors() -> None:
    m = random_layer(0, 4, 3, 0.5, 2)
    with pytest.raises(EngineError, match="shape \\(3,\\)"):
        reference.spmv(m, np.zeros(4))
    with pytest.raises(EngineError, match="bias"):
        reference.spmv(m, np.zeros(3), bias=np.zeros(3))
    with pytest.raises(EngineError, match="activation"):
        reference.spmv(m, np.zeros(3), activation="tanh")
    with pytest.raises(EngineError, match="int16"):
        reference.spmv_fixed(m, np.zeros(3, np.float32))
    with pytest.raises(ConfigError, match="act_frac_bits"):
        FixedPointFormat(act_frac_bits=16)
