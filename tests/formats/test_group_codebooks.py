"""Per-row / per-group codebooks and zero_code=False layers: EIEMatrix and the .eie file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import eie
from eie.errors import FormatError
from eie.formats import EIEMatrix


def grouped(rng: np.random.Generator, rows: int, cols: int, group_rows: int, zero_code: bool,
            num_pes: int = 3) -> tuple[EIEMatrix, np.ndarray, np.ndarray]:
    codes = rng.integers(0, 16, (rows, cols))
    cb = rng.standard_normal((-(-rows // group_rows), 16)).astype(np.float32)
    if zero_code:
        codes[rng.random((rows, cols)) < 0.6] = 0
        cb[:, 0] = 0.0
    m = EIEMatrix.from_group_codes(codes, cb, group_rows, num_pes=num_pes, zero_code=zero_code)
    return m, codes, cb


@pytest.mark.parametrize("group_rows", [1, 4, 7])
@pytest.mark.parametrize("zero_code", [False, True])
def test_decode_uses_each_rows_codebook(group_rows: int, zero_code: bool) -> None:
    rng = np.random.default_rng(group_rows)
    m, codes, cb = grouped(rng, 30, 9, group_rows, zero_code)
    want = cb[np.arange(30)[:, None] // group_rows, codes]
    np.testing.assert_array_equal(m.to_dense(), want)
    np.testing.assert_array_equal(m.to_codes(), codes)
    assert m.codebook_len == 16 and m.codebook.shape == (-(-30 // group_rows), 16)
    np.testing.assert_array_equal(m.row_codebooks()[13], cb[13 // group_rows])
    for n in (1, 5, 64):
        r = m.with_num_pes(n)
        assert (r.group_rows, r.zero_code, r.num_pes) == (group_rows, zero_code, n)
        np.testing.assert_array_equal(r.to_dense(), want)


def test_all_sixteen_codes_are_values_without_a_zero_code() -> None:
    """A dense 4-bit row uses every entry of its codebook, code 0 included."""
    codes = np.arange(16)[None, :].repeat(2, axis=0)
    cb = np.arange(32, dtype=np.float32).reshape(2, 16) + 1.0  # no zero anywhere
    m = EIEMatrix.from_group_codes(codes, cb, 1, zero_code=False)
    np.testing.assert_array_equal(m.to_dense(), cb)
    assert m.nnz == 32 and m.num_fillers == 0 and m.density == 1.0
    assert m.num_entries == 32 and not m.rel_index.any()


def test_group_codebook_validation() -> None:
    codes = np.zeros((4, 2), np.int64)
    with pytest.raises(FormatError, match="need 2 codebooks, found 3"):
        EIEMatrix.from_group_codes(codes, np.zeros((3, 16)), 2)
    bad = np.zeros((4, 16), np.float32)
    bad[2, 5] = np.nan
    with pytest.raises(FormatError, match="group 2 contains NaN"):
        EIEMatrix.from_group_codes(codes, bad, 1)
    nz = np.ones((4, 16), np.float32)
    with pytest.raises(FormatError, match="entry 0 should be 0.0 with zero_code=True"):
        EIEMatrix.from_group_codes(codes, nz, 1, zero_code=True)
    with pytest.raises(FormatError, match="group_rows should be a positive integer"):
        EIEMatrix.from_group_codes(codes, nz, 0, zero_code=False)
    with pytest.raises(FormatError, match=r"codes should be in \[0, 16\)"):
        EIEMatrix.from_group_codes(codes + 16, nz, 1, zero_code=False)
    m = EIEMatrix.from_group_codes(codes, nz, 1, zero_code=False, num_pes=2)
    with pytest.raises(FormatError, match="stores every weight"):  # an entry dropped
        EIEMatrix(m.codes[:-1].copy(), m.rel_index[:-1].copy(),
                  np.array([0, 4, 7]), np.array([[0, 2, 4], [0, 2, 3]]), m.codebook, m.shape,
                  2, 4, 4, 1, False)
    with pytest.raises(FormatError, match=r"needs a \(2, K\) codebook"):
        EIEMatrix(m.codes, m.rel_index, m.pe_offset, m.col_ptr, m.codebook, m.shape, 2, 4, 4,
                  3, False)


def _header(path: Path) -> dict:
    data = path.read_bytes()
    n = int.from_bytes(data[:8], "little")
    return json.loads(json.loads(data[8:8 + n])["__metadata__"]["eie"])


@pytest.mark.parametrize("zero_code", [False, True])
def test_file_round_trip_version_2(tmp_path: Path, zero_code: bool) -> None:
    rng = np.random.default_rng(5)
    m, _, _ = grouped(rng, 21, 13, 4, zero_code)
    classic = EIEMatrix.from_codes(np.eye(13, dtype=np.int64), np.arange(2, dtype=np.float32), 4)
    model = eie.Model((eie.Layer("g", m), eie.Layer("c", classic)))
    for huffman in (False, True):
        p = eie.save(tmp_path / f"g{huffman}.eie", model, huffman=huffman)
        back = eie.load(p)
        assert back.equals(model)
        h = _header(p)
        assert h["format_version"] == 2
        assert h["layers"][0]["codebooks"] == {"group_rows": 4, "zero_code": zero_code}
        assert "codebooks" not in h["layers"][1]
    if not zero_code:  # no rel_index tensor is stored for a layer without zero codes
        assert _header(p)["layers"][0]["streams"]["rel_index"] == {"encoding": "zeros",
                                                                    "count": m.num_entries}


def test_files_without_group_codebooks_stay_version_1(tmp_path: Path) -> None:
    m = EIEMatrix.from_codes([[1, 0], [0, 2]], np.array([0, 1, 2], np.float32), num_pes=2)
    p = eie.save(tmp_path / "v1.eie", m)
    assert _header(p)["format_version"] == 1
    assert eie.load(p).layers[0].matrix.equals(m)


def _rewrite(path: Path, edit) -> None:
    data = path.read_bytes()
    n = int.from_bytes(data[:8], "little")
    st_header = json.loads(data[8:8 + n])
    h = json.loads(st_header["__metadata__"]["eie"])
    edit(h)
    st_header["__metadata__"]["eie"] = json.dumps(h)
    new = json.dumps(st_header).encode()
    new += b" " * ((8 - len(new) % 8) % 8)
    path.write_bytes(len(new).to_bytes(8, "little") + new + data[8 + n:])


@pytest.mark.parametrize(("edit", "message"), [
    (lambda h: h.update(format_version=1), "version 1 file cannot have group codebooks"),
    (lambda h: h["layers"][0]["codebooks"].update(group_rows=-1), "codebooks should be"),
    (lambda h: h["layers"][0]["codebooks"].update(group_rows=3), "do not split into"),
    (lambda h: h["layers"][0]["streams"]["rel_index"].update(count=3), "rel_index stream"),
])
def test_group_headers_are_checked(tmp_path: Path, edit, message: str) -> None:
    rng = np.random.default_rng(6)
    m, _, _ = grouped(rng, 8, 5, 2, False)
    p = eie.save(tmp_path / "g.eie", m)
    _rewrite(p, edit)
    with pytest.raises(FormatError, match=message):
        eie.load(p)
