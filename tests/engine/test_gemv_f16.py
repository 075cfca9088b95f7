"""The float16 GEMV (``eie.engine.kernels.gemv_f16``, csrc/engine/gemv_f16*.cpp): every ISA this
CPU runs against a float64 reference of the same float16 weights, thread-count independence,
non-finite inputs, and refusals."""

from __future__ import annotations

import numpy as np
import pytest

from eie.engine import kernels
from eie.errors import EngineError

ISAS = kernels.available_isas()


def _bound(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    """float32 accumulation of cols products, in any order: cols * 2^-24 * sum |w x| per output
    (each product exact in float64's reference; a generous constant 2)."""
    a = np.abs(x.astype(np.float64)) @ np.abs(w.astype(np.float64)).T
    return 2.0 * w.shape[1] * 2.0 ** -24 * a + 1e-30


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("rows, cols", [(1, 1), (3, 7), (4, 8), (5, 31), (17, 32), (33, 100),
                                        (64, 576), (70, 1000)])
@pytest.mark.parametrize("batch", [1, 2, 5])
def test_matches_float64_reference(isa: str, rows: int, cols: int, batch: int) -> None:
    rng = np.random.default_rng(rows * 1000 + cols + batch)
    w = rng.standard_normal((rows, cols)).astype(np.float16)
    x = rng.standard_normal((batch, cols)).astype(np.float32)
    ref = x.astype(np.float64) @ w.astype(np.float64).T
    y = kernels.gemv_f16(w, x, threads=1, isa=isa)
    assert y.shape == (batch, rows) and y.dtype == np.float32
    assert np.all(np.abs(y - ref) <= _bound(w, x))
    # the float16 bits are accepted as uint16, and one vector gives one row of outputs
    y1 = kernels.gemv_f16(w.view(np.uint16), x[0], threads=1, isa=isa)
    assert y1.shape == (rows,)
    assert np.all(np.abs(y1 - ref[0]) <= _bound(w, x[:1])[0])


def test_a_wrong_product_is_caught_by_the_bound() -> None:
    """The bound sees a kernel that reads one weight from the wrong column (two swapped)."""
    rng = np.random.default_rng(1)
    w = rng.standard_normal((64, 576)).astype(np.float16)
    x = rng.standard_normal((1, 576)).astype(np.float32)
    bad = w.copy()
    bad[10, 100], bad[10, 101] = w[10, 101], w[10, 100]
    ref = x.astype(np.float64) @ bad.astype(np.float64).T
    y = kernels.gemv_f16(w, x, threads=1)
    assert not np.all(np.abs(y - ref) <= _bound(w, x))


@pytest.mark.parametrize("isa", ISAS)
def test_results_do_not_depend_on_the_thread_count(isa: str) -> None:
    rng = np.random.default_rng(2)
    w = rng.standard_normal((4099, 576)).astype(np.float16)  # past the single-thread cut
    for batch in (1, 3):
        x = rng.standard_normal((batch, 576)).astype(np.float32)
        one = kernels.gemv_f16(w, x, threads=1, isa=isa)
        two = kernels.gemv_f16(w, x, threads=2, isa=isa)
        assert np.array_equal(one, two)


@pytest.mark.parametrize("isa", ISAS)
def test_non_finite_inputs_and_weights_propagate(isa: str) -> None:
    rng = np.random.default_rng(3)
    w = rng.standard_normal((9, 40)).astype(np.float16)
    x = rng.standard_normal((2, 40)).astype(np.float32)
    x[1, 5] = np.nan
    w[3, 7] = np.float16(np.inf)
    y = kernels.gemv_f16(w, x, threads=1, isa=isa)
    ref = x.astype(np.float64) @ w.astype(np.float64).T
    assert np.all(np.isnan(y[1]))                 # NaN * anything
    assert np.isinf(y[0, 3]) and np.sign(y[0, 3]) == np.sign(ref[0, 3])
    finite = np.isfinite(ref[0])
    assert np.allclose(y[0, finite], ref[0, finite], rtol=1e-5, atol=1e-5)


def test_refusals_are_one_line_engine_errors() -> None:
    w = np.zeros((4, 8), np.float16)
    with pytest.raises(EngineError, match="float16"):
        kernels.gemv_f16(np.zeros((4, 8), np.float32), np.zeros(8, np.float32))
    with pytest.raises(EngineError, match="shape"):
        kernels.gemv_f16(w, np.zeros(9, np.float32))
    with pytest.raises(EngineError, match="2-D"):
        kernels.gemv_f16(np.zeros(8, np.float16), np.zeros(8, np.float32))
    # a non-contiguous weight is copied, not misread
    big = np.arange(64, dtype=np.float16).reshape(8, 8)
    x = np.ones(4, np.float32)
    assert np.array_equal(kernels.gemv_f16(big[:, ::2], x),
                          big[:, ::2].astype(np.float32) @ x)
