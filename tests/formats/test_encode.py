"""The C++ encoder (``EIEMatrix.from_codes``) and re-laying on the entries (``with_num_pes``)
against the numpy reference encoder."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eie import _core
from eie.formats import EIEMatrix
from eie.formats.eie_matrix import encode, encode_fast


@st.composite
def code_matrices(draw: st.DrawFn) -> tuple[np.ndarray, int, int]:
    rows = draw(st.integers(0, 90))
    cols = draw(st.integers(0, 12))
    density = draw(st.sampled_from([0.0, 0.03, 0.3, 1.0]))
    num_pes = draw(st.integers(1, 70))
    index_bits = draw(st.integers(1, 8))
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    codes = np.where(rng.random((rows, cols)) < density, rng.integers(1, 256, (rows, cols)), 0)
    return codes.astype(np.uint8), num_pes, index_bits


@settings(max_examples=150, deadline=None)
@given(code_matrices())
def test_cpp_encoder_matches_the_reference(case: tuple[np.ndarray, int, int]) -> None:
    codes, num_pes, index_bits = case
    for got, want in zip(encode_fast(codes, num_pes, index_bits),
                         encode(codes, num_pes, index_bits), strict=True):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


@settings(max_examples=100, deadline=None)
@given(code_matrices(), st.integers(1, 70), st.integers(1, 8))
def test_relaying_on_the_entries_equals_encoding_again(case: tuple[np.ndarray, int, int],
                                                       new_pes: int, new_bits: int) -> None:
    codes, num_pes, index_bits = case
    cb = np.arange(256, dtype=np.float32)
    m = EIEMatrix.from_codes(codes, cb, num_pes, index_bits)
    r = m.with_num_pes(new_pes, new_bits)
    assert r.equals(EIEMatrix.from_codes(codes, cb, new_pes, new_bits))


def test_relaying_reads_every_pe_of_a_tall_layer() -> None:
    rng = np.random.default_rng(3)
    codes = np.where(rng.random((5000, 37)) < 0.2, rng.integers(1, 16, (5000, 37)), 0)
    m = EIEMatrix.from_codes(codes, np.arange(16, dtype=np.float32), num_pes=64, index_bits=2)
    for n in (1, 7, 64, 4096):
        np.testing.assert_array_equal(m.with_num_pes(n, 4).to_codes(), codes)


def test_reencode_refuses_inconsistent_arrays() -> None:
    m = EIEMatrix.from_codes(np.array([[1, 0], [0, 2]]), np.arange(3, dtype=np.float32), 2)
    col_ptr = m.col_ptr.copy()
    col_ptr[0, 1] = 2  # column 0 of PE 0 claims both entries: pointers no longer monotonic
    with pytest.raises(ValueError, match="col_ptr of PE 0 should be non-decreasing"):
        _core.reencode(m.codes, m.rel_index, m.pe_offset, col_ptr, 2, 2, 3, 4)
    with pytest.raises(ValueError, match="num_pes"):
        _core.reencode(m.codes, m.rel_index, m.pe_offset, m.col_ptr, 2, 2, 0, 4)
    with pytest.raises(ValueError, match="index_bits"):
        _core.encode_codes(np.zeros((2, 2), np.uint8), 2, 9)


def test_density_is_counted_once() -> None:
    m = EIEMatrix.from_codes(np.array([[1, 0], [0, 2]]), np.arange(3, dtype=np.float32), 2)
    assert m.density == 0.5
    assert m.__dict__["nnz"] == 2  # cached: the arrays are read-only
