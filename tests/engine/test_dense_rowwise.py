"""The rowwise kernels (per-row codebooks, every ISA this CPU runs, AVX-512 natively where
present) on ragged shapes: row counts that leave every remainder of the kernels' multi-row
passes, column counts around the 128-column chunks and their 16-column code slots (SmolLM2's
192 / 576 / 1536 among them), inputs wide enough for several column panels, batches 1..16,
NaN and zero inputs; each against the float64 product within FLOAT_TOL, and a row's result
independent of the rows computed beside it and of the thread count."""

from __future__ import annotations

import numpy as np
import pytest
from engine_cases import BACKENDS, assert_close, exact, random_input, run_backend

from eie.engine import available_isas, spmv
from eie.formats import EIEMatrix

SHAPES = [(1, 1), (2, 63), (3, 64), (5, 65), (6, 127), (7, 129), (9, 192), (11, 576),
          (192, 576), (13, 1536), (4, 2000)]
BATCHES = [1, 2, 3, 4, 5, 8, 9, 16]


def per_row(rng: np.random.Generator, rows: int, cols: int) -> EIEMatrix:
    codes = rng.integers(0, 16, (rows, cols))
    cb = (np.sort(rng.standard_normal((rows, 16)), axis=1) * 0.05).astype(np.float32)
    return EIEMatrix.from_group_codes(codes, cb, 1, num_pes=1, zero_code=False)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("rows, cols", SHAPES)
def test_ragged_shapes_every_batch(backend: str, rows: int, cols: int) -> None:
    rng = np.random.default_rng(rows * 7919 + cols)
    m = per_row(rng, rows, cols)
    bias = rng.standard_normal(rows).astype(np.float32)
    for batch in BATCHES if backend != "reference" else [1, 3]:
        x = random_input(rng, (batch, cols), 0.9)
        x1 = x[0] if batch == 1 else x
        assert_close(run_backend(backend, m, x1, bias, "relu"), *exact(m, x1, bias, "relu"))


@pytest.mark.parametrize("isa", available_isas())
@pytest.mark.parametrize("batch", [1, 2, 8, 16])
def test_several_column_panels(isa: str, batch: int) -> None:
    """Batches walk the columns in L1-sized panels (fewer columns per panel as the batch grows):
    7000 columns span several panels at every batch above 1."""
    rng = np.random.default_rng(batch)
    m = per_row(rng, 37, 7000)
    x = random_input(rng, (batch, 7000), 1.0)
    assert_close(spmv(m, x, isa=isa), *exact(m, x, None, None))


@pytest.mark.parametrize("isa", available_isas())
@pytest.mark.parametrize("batch", [1, 4, 8, 11])
def test_a_row_does_not_depend_on_its_neighbours(isa: str, batch: int) -> None:
    """Rows 1.. of a matrix and the same rows as a matrix of their own fall into different
    multi-row passes: every output has the same bits."""
    rng = np.random.default_rng(11 + batch)
    codes = rng.integers(0, 16, (23, 576))
    cb = rng.standard_normal((23, 16)).astype(np.float32)
    whole = EIEMatrix.from_group_codes(codes, cb, 1, num_pes=1, zero_code=False)
    tail = EIEMatrix.from_group_codes(codes[1:], cb[1:], 1, num_pes=1, zero_code=False)
    x = random_input(rng, (batch, 576), 1.0)
    np.testing.assert_array_equal(spmv(whole, x, isa=isa)[:, 1:], spmv(tail, x, isa=isa))
    np.testing.assert_array_equal(spmv(whole, x, isa=isa, threads=2),
                                  spmv(whole, x, isa=isa, threads=1))


@pytest.mark.parametrize("isa", available_isas())
def test_nan_and_zero_inputs(isa: str) -> None:
    """Every weight of a rowwise layer multiplies its input (no zero-code rule): a NaN input
    makes its whole output row NaN and leaves the other inputs of the batch alone; an all-zero
    input gives exactly the bias."""
    rng = np.random.default_rng(5)
    m = per_row(rng, 45, 576)
    bias = rng.standard_normal(45).astype(np.float32)
    x = random_input(rng, (6, 576), 1.0)
    x[2] = 0.0
    x[4, 575] = np.nan  # in the last chunk's last used code slot
    y = spmv(m, x, bias, isa=isa)
    assert np.isnan(y[4]).all()
    np.testing.assert_array_equal(y[2], bias)
    keep = [0, 1, 2, 3, 5]
    assert_close(y[keep], *exact(m, x[keep], bias, None))
    one = x[4].copy()
    assert np.isnan(spmv(m, one, isa=isa)).all()
