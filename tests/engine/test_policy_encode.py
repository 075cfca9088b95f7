"""Re-laying an EIEMatrix for another PE count or index width works on the entries (one walk,
no dense round trip) and gives exactly the arrays encoding the code matrix afresh would."""

from __future__ import annotations

import numpy as np
import pytest

from eie import _core
from eie.errors import FormatError
from eie.formats import EIEMatrix
from eie.formats._fast import reencode

CB = np.r_[0, np.linspace(-1, 1, 15)].astype(np.float32)


def codes_of(rng: np.random.Generator, rows: int, cols: int, density: float) -> np.ndarray:
    codes = np.where(rng.random((rows, cols)) < density, rng.integers(1, 16, (rows, cols)), 0)
    if cols > 3:
        codes[:, 1] = 0  # an empty column
    if rows > 40:
        codes[5:40, 2] = 0  # a long zero run: fillers at small index widths
    return codes.astype(np.uint8)


@pytest.mark.parametrize(("rows", "cols", "density"), [
    (1, 1, 1.0), (3, 7, 0.5), (70, 50, 0.3), (300, 33, 0.02), (129, 64, 1.0), (0, 5, 0.5),
    (5, 0, 0.5), (1000, 20, 0.005)])
@pytest.mark.parametrize(("old", "new", "bits"), [(4, 32, None), (64, 1, None), (8, 3, 2),
                                                  (1, 7, 1), (16, 16, 8), (5, 200, 3)])
def test_relaying_equals_a_fresh_encoding(rows: int, cols: int, density: float, old: int,
                                          new: int, bits: int | None) -> None:
    rng = np.random.default_rng(rows * 31 + cols)
    codes = codes_of(rng, rows, cols, density)
    m = EIEMatrix.from_codes(codes, CB, num_pes=old, index_bits=4)
    got = m.with_num_pes(new, bits)
    want = EIEMatrix.from_codes(codes, CB, num_pes=new, index_bits=bits or 4)
    for name in ("codes", "rel_index", "pe_offset", "col_ptr"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)
    assert (got.num_pes, got.index_bits) == (new, bits or 4)
    np.testing.assert_array_equal(got.to_codes(), codes)


def args(m: EIEMatrix) -> list[object]:
    return [m.codes.copy(), m.rel_index.copy(), m.pe_offset.copy(), m.col_ptr.copy(), m.rows,
            m.cols]


def test_hostile_arrays_are_refused_before_any_out_of_bounds_walk() -> None:
    rng = np.random.default_rng(0)
    m = EIEMatrix.from_codes(codes_of(rng, 50, 20, 0.4), CB, num_pes=4)
    a = args(m)
    a[3][1, 5] = a[3][1, 4] - 1  # a decreasing column pointer
    with pytest.raises(ValueError, match="col_ptr of PE 1 should be non-decreasing"):
        _core.reencode(*a, 8, 4)
    a = args(m)
    a[3][2, -1] += 1  # a PE's pointers ending past its entries
    with pytest.raises(ValueError, match="col_ptr of PE 2 should run from 0"):
        _core.reencode(*a, 8, 4)
    a = args(m)
    a[2][-1] += 3  # pe_offset not ending at the entries
    with pytest.raises(ValueError, match="pe_offset should run"):
        _core.reencode(*a, 8, 4)
    a = args(m)
    a[1][:] = 15  # every relative index at its largest: rows past the matrix
    with pytest.raises(ValueError, match="decodes to row"):
        _core.reencode(*a, 8, 4)
    with pytest.raises(ValueError, match="num_pes should be >= 1"):
        _core.reencode(*args(m), 0, 4)


def test_the_wrapper_says_format_error() -> None:
    m = EIEMatrix.from_codes(np.ones((4, 4), np.uint8), CB, num_pes=2)
    with pytest.raises(FormatError, match="index_bits"):
        reencode(m, 2, 9)
