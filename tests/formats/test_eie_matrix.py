"""EIEMatrix: a hand-worked example, the awkward cases, round-trip properties, validation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from eie.errors import FormatError
from eie.formats import EIEMatrix
from eie.formats.eie_matrix import decode_reference

CODEBOOK14 = np.concatenate(([0.0], np.arange(1, 14) * 0.5)).astype(np.float32)


def hand_codes() -> np.ndarray:
    """16x8 example over 4 PEs (PE k holds rows k, k+4, k+8, k+12 as local rows 0..3)."""
    c = np.zeros((16, 8), np.int64)
    c[0, 0], c[4, 0], c[12, 0] = 1, 2, 3
    c[5, 1] = 4
    c[2, 2], c[14, 2] = 5, 6
    c[15, 3] = 7
    c[1, 5], c[3, 5], c[7, 5], c[11, 5], c[15, 5] = 8, 9, 10, 11, 12
    c[8, 7] = 13
    return c


def test_hand_example_index_bits_4() -> None:
    m = EIEMatrix.from_codes(hand_codes(), CODEBOOK14, num_pes=4, index_bits=4)
    expected = {
        0: ([1, 2, 3, 13], [0, 0, 1, 2], [0, 3, 3, 3, 3, 3, 3, 3, 4]),
        1: ([4, 8], [1, 0], [0, 0, 1, 1, 1, 1, 2, 2, 2]),
        2: ([5, 6], [0, 2], [0, 0, 0, 2, 2, 2, 2, 2, 2]),
        3: ([7, 9, 10, 11, 12], [3, 0, 0, 0, 0], [0, 0, 0, 0, 1, 1, 5, 5, 5]),
    }
    for k, (codes, rel, ptr) in expected.items():
        sl = m.pe(k)
        assert sl.codes.tolist() == codes
        assert sl.rel_index.tolist() == rel
        assert sl.col_ptr.tolist() == ptr
        assert sl.codes.dtype == np.uint8 and sl.rel_index.dtype == np.uint8
    assert (m.nnz, m.num_entries, m.num_fillers) == (13, 13, 0)
    assert m.shape == (16, 8) and m.num_pes == 4
    np.testing.assert_array_equal(m.to_codes(), hand_codes())
    np.testing.assert_array_equal(m.to_dense(), CODEBOOK14[hand_codes()])
    st_ = m.storage()
    assert (st_.codes_bits, st_.rel_index_bits, st_.fillers_bits) == (52, 52, 0)
    assert st_.pointers_bits == 4 * 9 * 16
    assert st_.codebook_bits == 14 * 32
    assert st_.total_bits == 52 + 52 + 576 + 448
    assert st_.compression_ratio == pytest.approx(16 * 8 * 32 / 1128)


def test_hand_example_index_bits_1_inserts_fillers() -> None:
    m = EIEMatrix.from_codes(hand_codes(), CODEBOOK14, num_pes=4, index_bits=1)
    expected = {
        0: ([1, 2, 3, 0, 13], [0, 0, 1, 1, 0], [0, 3, 3, 3, 3, 3, 3, 3, 5]),
        1: ([4, 8], [1, 0], [0, 0, 1, 1, 1, 1, 2, 2, 2]),
        2: ([5, 0, 6], [0, 1, 0], [0, 0, 0, 3, 3, 3, 3, 3, 3]),
        3: ([0, 7, 9, 10, 11, 12], [1, 1, 0, 0, 0, 0], [0, 0, 0, 0, 2, 2, 6, 6, 6]),
    }
    for k, (codes, rel, ptr) in expected.items():
        sl = m.pe(k)
        assert (sl.codes.tolist(), sl.rel_index.tolist(), sl.col_ptr.tolist()) == (codes, rel, ptr)
    assert (m.nnz, m.num_fillers) == (13, 3)
    assert m.storage().fillers_bits == 3 * (4 + 1)
    np.testing.assert_array_equal(m.to_codes(), hand_codes())


@pytest.mark.parametrize(("gap", "fillers"), [(0, 0), (15, 0), (16, 1), (31, 1), (32, 2), (47, 2),
                                              (48, 3)])
def test_gaps_around_the_index_field(gap: int, fillers: int) -> None:
    """One PE, index_bits 4: entries at row 0 and row gap + 1; a gap of 16 needs a filler."""
    c = np.zeros((gap + 2, 1), np.int64)
    c[0, 0], c[gap + 1, 0] = 1, 2
    m = EIEMatrix.from_codes(c, [0.0, 1.0, 2.0], num_pes=1)
    assert m.num_fillers == fillers
    sl = m.pe(0)
    assert sl.codes.tolist() == [1] + [0] * fillers + [2]
    assert sl.rel_index.tolist() == [0] + [15] * fillers + [gap - 16 * fillers]
    np.testing.assert_array_equal(m.to_codes(), c)


@pytest.mark.parametrize("first_row", [0, 1, 15, 16, 31, 32])
def test_first_entry_counts_from_local_row_0(first_row: int) -> None:
    c = np.zeros((first_row + 1, 2), np.int64)
    c[first_row, 1] = 1  # the last row, in the last column; column 0 empty
    m = EIEMatrix.from_codes(c, [0.0, 1.0], num_pes=1)
    assert m.num_fillers == first_row // 16
    assert m.pe(0).rel_index.tolist()[-1] == first_row % 16
    assert m.pe(0).col_ptr.tolist() == [0, 0, m.num_entries]
    np.testing.assert_array_equal(m.to_codes(), c)


def test_pes_without_rows() -> None:
    c = np.array([[1, 0, 2]], np.int64)  # 1 row over 4 PEs: PEs 1..3 hold nothing
    m = EIEMatrix.from_codes(c, [0.0, 1.0, 2.0], num_pes=4)
    assert [m.local_rows(k) for k in range(4)] == [1, 0, 0, 0]
    assert m.entries_per_pe().tolist() == [2, 0, 0, 0]
    for k in (1, 2, 3):
        assert m.pe(k).col_ptr.tolist() == [0, 0, 0, 0]
    np.testing.assert_array_equal(m.to_codes(), c)


def test_one_by_one_and_empty() -> None:
    m = EIEMatrix.from_codes([[3]], [0.0, 1.0, 2.0, 3.0], num_pes=1)
    assert (m.pe(0).codes.tolist(), m.pe(0).rel_index.tolist()) == ([3], [0])
    z = EIEMatrix.from_codes(np.zeros((5, 7), np.int64), [0.0, 1.0], num_pes=3)
    assert z.num_entries == 0 and z.nnz == 0 and z.density == 0.0
    np.testing.assert_array_equal(z.to_dense(), np.zeros((5, 7), np.float32))


def test_from_dense_maps_to_nearest_nonzero_entry() -> None:
    cb = np.array([0.0, -1.0, 0.5, 2.0], np.float32)
    w = np.array([[0.0, 0.01, -0.01], [1.3, -7.0, 0.75]])
    m = EIEMatrix.from_dense(w, cb, num_pes=2)
    # +-0.01 are nearest to 0 but are surviving weights: they map to 0.5, never to zero;
    # 1.3 is nearer 2.0 than 0.5; -7 saturates to the smallest entry.
    np.testing.assert_array_equal(m.to_codes(), [[0, 2, 2], [3, 1, 2]])


@st.composite
def layouts(draw: st.DrawFn) -> tuple[np.ndarray, int, int]:
    rows = draw(st.integers(1, 70))
    cols = draw(st.integers(1, 12))
    density = draw(st.sampled_from([0.0, 0.02, 0.1, 0.5, 1.0]))
    num_pes = draw(st.sampled_from([1, 2, 3, 4, 7, 16, 64, 256]))
    index_bits = draw(st.integers(2, 8))
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    codes = np.where(rng.random((rows, cols)) < density, rng.integers(1, 16, (rows, cols)), 0)
    return codes, num_pes, index_bits


@given(layouts())
def test_round_trip_property(case: tuple[np.ndarray, int, int]) -> None:
    codes, num_pes, index_bits = case
    m = EIEMatrix.from_codes(codes, np.arange(16, dtype=np.float32), num_pes, index_bits)
    np.testing.assert_array_equal(m.to_codes(), codes)  # C++ decoder
    np.testing.assert_array_equal(decode_reference(m), codes)  # numpy decoder
    assert m.nnz == np.count_nonzero(codes)
    span = 1 << index_bits
    assert int(m.rel_index.max(initial=0)) < span
    fill = m.codes == 0
    assert np.all(m.rel_index[fill] == span - 1)  # fillers: code 0, rel 2**bits - 1
    # Expected filler count: one per full 2**bits of zero run before an entry.
    expected_fillers = 0
    for k in range(num_pes):
        local = codes[k::num_pes]
        for j in range(codes.shape[1]):
            rows_nz = np.flatnonzero(local[:, j])
            gaps = np.diff(np.concatenate(([-1], rows_nz))) - 1
            expected_fillers += int(np.sum(gaps // span))
    assert m.num_fillers == expected_fillers
    # Re-encoding the decoded matrix is byte-identical.
    again = EIEMatrix.from_codes(m.to_codes(), m.codebook, num_pes, index_bits)
    assert again.equals(m)


def _arrays(m: EIEMatrix) -> dict:
    return dict(codes=m.codes.copy(), rel_index=m.rel_index.copy(), pe_offset=m.pe_offset.copy(),
                col_ptr=m.col_ptr.copy(), codebook=m.codebook.copy(), shape=m.shape,
                num_pes=m.num_pes, index_bits=m.index_bits, weight_bits=m.weight_bits)


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda a: a.update(codebook=np.array([1.0] + [0.5] * 13, np.float32)), "codebook\\[0\\]"),
    (lambda a: a["codes"].__setitem__(0, 14), "code 14"),
    (lambda a: a["rel_index"].__setitem__(0, 16), "index_bits"),
    (lambda a: a["col_ptr"].__setitem__((3, 5), 0), "non-decreasing"),
    (lambda a: a["col_ptr"].__setitem__((1, -1), 1), "end at its entry count"),
    (lambda a: a["rel_index"].__setitem__(3, 9), "local row"),
    (lambda a: a.update(pe_offset=a["pe_offset"][:-1]), "pe_offset size"),
    (lambda a: a.update(codes=a["codes"].astype(np.int32)), "dtype uint8"),
    (lambda a: a.update(shape=(16, 9)), "col_ptr shape"),
    (lambda a: a.update(num_pes=0), "num_pes"),
    (lambda a: a.update(index_bits=0), "index_bits"),
    (lambda a: a.update(codebook=np.array([0.0, np.nan], np.float32)), "NaN"),
])
def test_validation_raises_format_error(mutate, message: str) -> None:
    a = _arrays(EIEMatrix.from_codes(hand_codes(), CODEBOOK14, num_pes=4))
    mutate(a)
    with pytest.raises(FormatError, match=message):
        EIEMatrix(**a)


@pytest.mark.parametrize(("codes", "codebook", "message"), [
    ([[0, 3]], [0.0, 1.0], "should be in \\[0, 2\\)"),
    ([[0, -1]], [0.0, 1.0], "should be in"),
    ([1, 2], [0.0, 1.0, 2.0], "2-D"),
    ([[0.5]], [0.0, 1.0], "integers"),
])
def test_from_codes_rejects_bad_input(codes, codebook, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        EIEMatrix.from_codes(codes, codebook, num_pes=1)


def test_arrays_are_read_only() -> None:
    m = EIEMatrix.from_codes(hand_codes(), CODEBOOK14, num_pes=4)
    with pytest.raises(ValueError, match="read-only"):
        m.codes[0] = 5


def test_with_num_pes_relays_the_same_weights() -> None:
    m = EIEMatrix.from_codes(hand_codes(), CODEBOOK14, num_pes=4)
    for n in (1, 3, 16, 64):
        r = m.with_num_pes(n)
        assert r.num_pes == n
        np.testing.assert_array_equal(r.to_codes(), hand_codes())
