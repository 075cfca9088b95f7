"""The EIE authors' real AlexNet fc8 layer: import, decode, byte-identical export, reference run."""

from __future__ import annotations

import filecmp
from pathlib import Path

import numpy as np
import pytest

from eie.engine import reference
from eie.errors import FormatError
from eie.formats import EIEMatrix, eiesim


def _files(d: Path) -> list[str]:
    return sorted(str(p.relative_to(d)) for p in d.rglob("*.dat"))


def test_fixture_import(fixture_dir: Path) -> None:
    m, bias, act = eiesim.load(fixture_dir)
    assert m.shape == (1000, 4096) and m.num_pes == 64 and m.index_bits == 4
    assert [m.local_rows(k) for k in (0, 39, 40, 63)] == [16, 16, 15, 15]
    assert bias.shape == (1000,) and act.shape == (4096,)
    assert m.num_fillers == 0  # as the fixture's README says
    # Every stored weight entry is real; the file's entries minus the bias column's are ours.
    ptr_total = sum(int(np.fromfile(fixture_dir / "ptr" / f"ptr{k}.dat", "<u4")[-1])
                    for k in range(64))
    assert m.nnz == ptr_total - int(np.count_nonzero(bias))
    assert 0.24 < m.density < 0.27 and 0.40 < np.mean(act != 0) < 0.46
    codebook = np.fromfile(fixture_dir / "arithm.dat", "<f4")
    np.testing.assert_array_equal(m.codebook, codebook)
    assert set(np.unique(bias)) <= set(codebook.tolist())


def test_fixture_re_export_is_byte_identical(fixture_dir: Path, tmp_path: Path) -> None:
    m, bias, act = eiesim.load(fixture_dir)
    eiesim.save(tmp_path, m, bias, act)
    assert _files(tmp_path) == _files(fixture_dir)
    for name in _files(fixture_dir):
        assert filecmp.cmp(fixture_dir / name, tmp_path / name, shallow=False), name


def test_fixture_reference_matches_numpy(fixture_dir: Path) -> None:
    m, bias, act = eiesim.load(fixture_dir)
    y = reference.spmv(m, act, bias, "relu")
    expected = np.maximum(m.to_dense().astype(np.float64) @ act.astype(np.float64) + bias, 0.0)
    np.testing.assert_allclose(y, expected, rtol=1e-6, atol=1e-6)
    assert 0 < np.count_nonzero(y) < 1000


def test_fixture_re_encode_matches_pe_arrays(fixture_dir: Path) -> None:
    """Our encoder, given the decoded codes, produces PE 5's stored weight entries exactly."""
    m, _, _ = eiesim.load(fixture_dir)
    again = EIEMatrix.from_codes(m.to_codes(), m.codebook, 64)
    assert again.equals(m)
    ptr = np.fromfile(fixture_dir / "ptr" / "ptr5.dat", "<u4")
    pairs = np.fromfile(fixture_dir / "spm" / "spm5.dat", "<u4").reshape(-1, 2)
    sl = again.pe(5)
    np.testing.assert_array_equal(sl.col_ptr, ptr[:-1])
    np.testing.assert_array_equal(sl.codes, pairs[: ptr[-2], 0])
    np.testing.assert_array_equal(sl.rel_index, pairs[: ptr[-2], 1])


def test_round_trip_with_fillers(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    codes = np.where(rng.random((300, 9)) < 0.05, rng.integers(1, 16, (300, 9)), 0)
    cb = np.linspace(-1, 1, 16).astype(np.float32)
    cb[0] = 0.0
    m = EIEMatrix.from_codes(codes, cb, num_pes=2)
    assert m.num_fillers > 0
    bias = cb[rng.integers(0, 16, 300)]
    act = rng.random(9).astype(np.float32)
    eiesim.save(tmp_path, m, bias, act)
    m2, b2, a2 = eiesim.load(tmp_path, rows=300)
    assert m2.equals(m)
    np.testing.assert_array_equal(b2, bias)
    np.testing.assert_array_equal(a2, act)


def test_bias_must_be_in_codebook(tmp_path: Path) -> None:
    m = EIEMatrix.from_codes([[1]], [0.0, 1.0], num_pes=1)
    with pytest.raises(FormatError, match="not codebook entries"):
        eiesim.save(tmp_path, m, [0.3], [1.0])


def test_bad_folders(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="ptr"):
        eiesim.load(tmp_path)
    (tmp_path / "ptr").mkdir()
    (tmp_path / "spm").mkdir()
    (tmp_path / "arithm.dat").write_bytes(np.array([0, 1], "<f4").tobytes())
    (tmp_path / "act.dat").write_bytes(np.array([1, 1], "<f4").tobytes())
    (tmp_path / "ptr" / "ptr0.dat").write_bytes(np.array([0, 1, 1], "<u4").tobytes())
    (tmp_path / "spm" / "spm0.dat").write_bytes(np.array([1, 0], "<u4").tobytes())
    with pytest.raises(FormatError, match="cols \\+ 2"):
        eiesim.load(tmp_path)
    (tmp_path / "ptr" / "ptr0.dat").write_bytes(np.array([0, 1, 1, 5], "<u4").tobytes())
    with pytest.raises(FormatError):
        eiesim.load(tmp_path)
