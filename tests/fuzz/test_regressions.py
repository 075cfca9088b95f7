"""One test per defect that hostile ``.eie`` files and simulator folders showed: each input is
built from a valid file with the CRCs fixed up, so only the validation under test stands between
it and the decoder. Every one crashed, blew memory up or raised an untyped error before."""

from __future__ import annotations

import os
import resource
import signal
import time
from pathlib import Path

import numpy as np
import pytest
from eiefile import EieFile

import eie
from eie.engine.engine import Engine
from eie.errors import FormatError
from eie.formats import EIEMatrix, eiesim
from eie.formats.container import loads

CODEBOOK = np.array([0.0, 0.5, -1.0, 2.0], np.float32)


def _valid(huffman: bool = False, tmp: Path | None = None) -> EieFile:
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 4, (12, 6)) * (rng.random((12, 6)) < 0.4)
    m = EIEMatrix.from_codes(codes, CODEBOOK, num_pes=4, index_bits=2)
    layer = eie.Layer("fc", m, bias=np.linspace(-1, 1, 12).astype(np.float32), activation="relu")
    blob_path = eie.save((tmp or Path(os.environ.get("TMPDIR", "/tmp"))) / f"v{os.getpid()}.eie",
                         eie.Model((layer,)), huffman=huffman)
    data = blob_path.read_bytes()
    blob_path.unlink()
    return EieFile.parse(data)


def _rejects(data: bytes, match: str | None = None) -> FormatError:
    with pytest.raises(FormatError, match=match) as info:
        loads(data)
    return info.value


def test_the_valid_base_file_loads(tmp_path: Path) -> None:
    for huffman in (False, True):
        model = loads(_valid(huffman, tmp_path).to_bytes())
        assert model.layers[0].matrix.shape == (12, 6)


# ----------------------------------------------------------------- pointers (validate before walk)
def test_a_column_pointer_jumping_forward_is_rejected_before_any_walk(tmp_path: Path) -> None:
    f = _valid(tmp=tmp_path)
    ptr = f.col_ptr().reshape(4, 7)
    ptr[0, 1] = 2**40  # jumps far past PE 0's entries, then comes back
    f.set_col_ptr(ptr)
    err = _rejects(f.to_bytes(), "column pointer")
    assert "2**40" not in str(err)


def test_a_small_pointer_jump_gives_the_same_message_every_time(tmp_path: Path) -> None:
    f = _valid(tmp=tmp_path)
    ptr = f.col_ptr().reshape(4, 7)
    ptr[1, 2] = ptr[1, -1]  # within PE 1's entries but larger than the next pointer
    ptr[1, 3] = 0
    f.set_col_ptr(ptr)
    messages = {str(_rejects(f.to_bytes(), "non-decreasing")) for _ in range(5)}
    assert len(messages) == 1


def test_matrix_constructor_with_a_jumping_pointer_raises_format_error() -> None:
    codes = np.ones(1, np.uint8)
    rel = np.zeros(1, np.uint8)
    with pytest.raises(FormatError, match="non-decreasing"):
        EIEMatrix(codes, rel, np.array([0, 1], np.int64), np.array([[0, 2**40, 1]], np.int64),
                  CODEBOOK, (4, 2), 1, 4, 4)


# ------------------------------------------------------------------------------- shapes, overflow
@pytest.mark.parametrize("shape", [[9223372036854775807, 40], [134217728, 40], [10**9, 6],
                                   [12, 2**40], [-1, 6]])
def test_huge_or_negative_shapes_are_refused_before_allocating(shape: list[int],
                                                               tmp_path: Path) -> None:
    f = _valid(tmp=tmp_path)
    f.layer()["shape"] = shape
    t0 = time.process_time()
    _rejects(f.to_bytes(), "shape|weights|col_ptr|values")
    assert time.process_time() - t0 < 1.0


def test_core_refuses_a_shape_whose_size_overflows() -> None:
    from eie import _core

    empty = np.zeros(0, np.uint8)
    with pytest.raises(ValueError, match="overflows"):
        _core.validate_entries(empty, empty, np.zeros(2, np.int64), np.zeros((1, 41), np.int64),
                               9223372036854775807, 40)


def test_matrix_constructor_refuses_huge_shapes() -> None:
    empty = np.zeros(0, np.uint8)
    with pytest.raises(FormatError, match="shape should be within"):
        EIEMatrix(empty, empty, np.zeros(2, np.int64), np.zeros((1, 41), np.int64), CODEBOOK,
                  (9223372036854775807, 40), 1, 4, 4)
    with pytest.raises(FormatError, match="at most 1073741824 weights"):
        EIEMatrix(empty, empty, np.zeros(2, np.int64), np.zeros((1, 129), np.int64), CODEBOOK,
                  (2**24, 128), 1, 4, 4)


# ------------------------------------------------------------------------------------- Huffman
@pytest.mark.parametrize("bits", [2**34, 10**12, 0, -3, 9])
def test_huffman_bits_are_range_checked_first(bits: int, tmp_path: Path) -> None:
    f = _valid(huffman=True, tmp=tmp_path)
    f.layer()["streams"]["codes"]["bits"] = bits
    t0 = time.process_time()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    _rejects(f.to_bytes(), "bits")
    assert time.process_time() - t0 < 1.0
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50_000  # KiB


def test_huffman_count_larger_than_the_stream_is_refused(tmp_path: Path) -> None:
    f = _valid(huffman=True, tmp=tmp_path)
    f.layer()["num_entries"] = 10**9
    for key in ("codes", "rel_index"):
        f.layer()["streams"][key]["count"] = 10**9
    _rejects(f.to_bytes(), "cannot fit|values")


# ------------------------------------------------------------------------- header field types
@pytest.mark.parametrize("key", ["num_pes", "num_entries", "index_bits", "weight_bits"])
@pytest.mark.parametrize("value", [float("inf"), float("nan"), 1e308, 4.0, "4", None, True, []])
def test_non_integer_header_fields_raise_format_error(key: str, value: object,
                                                      tmp_path: Path) -> None:
    f = _valid(tmp=tmp_path)
    f.layer()[key] = value
    _rejects(f.to_bytes(), key)


def test_infinity_in_a_stream_count_raises_format_error(tmp_path: Path) -> None:
    f = _valid(tmp=tmp_path)
    f.layer()["streams"]["col_ptr"]["count"] = float("inf")
    _rejects(f.to_bytes(), "count")


def test_attrs_that_are_not_an_object_raise_format_error(tmp_path: Path) -> None:
    f = _valid(tmp=tmp_path)
    f.layer()["attrs"] = []
    data = f.to_bytes()
    _rejects(data, "attrs")
    path = tmp_path / "attrs.eie"
    path.write_bytes(data)
    with pytest.raises(FormatError, match="attrs"):
        Engine.load(path)


def test_duplicated_json_keys_are_refused(tmp_path: Path) -> None:
    import json

    f = _valid(tmp=tmp_path)
    text = json.dumps(f.header, sort_keys=True)
    text = text.replace('"num_pes": 4', '"num_pes": 4, "num_pes": 2', 1)
    _rejects(f.to_bytes(header_text=text), "more than once")


def test_deeply_nested_metadata_raises_format_error(tmp_path: Path) -> None:
    import json

    f = _valid(tmp=tmp_path)
    text = json.dumps(f.header, sort_keys=True)
    text = text.replace('"metadata": {}', '"metadata": ' + "[" * 200_000 + "]" * 200_000, 1)
    _rejects(f.to_bytes(header_text=text))


def test_wrapped_code_width_is_refused(tmp_path: Path) -> None:
    """A codes stream packed wider than weight_bits would wrap values to uint8 silently."""
    from eie.formats import bitpack

    f = _valid(tmp=tmp_path)
    n = f.layer()["num_entries"]
    f.layer()["streams"]["codes"]["bits"] = 16
    f.set_tensor("0.codes", bitpack.pack(np.full(n, 257), 16).tobytes())
    _rejects(f.to_bytes(), "'bits' should be 4")


def test_an_unreadable_path_raises_format_error(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="no such file"):
        eie.load(tmp_path)


# ------------------------------------------------------------------------------ simulator folder
def _sim_folder(tmp_path: Path) -> Path:
    rng = np.random.default_rng(1)
    codes = rng.integers(0, 4, (10, 5)) * (rng.random((10, 5)) < 0.5)
    m = EIEMatrix.from_codes(codes, CODEBOOK, num_pes=3)
    return eiesim.save(tmp_path / "sim", m, CODEBOOK[rng.integers(0, 4, 10)],
                       rng.standard_normal(5).astype(np.float32))


@pytest.mark.parametrize("rows", [9223372036854775807, 2**40, -1, 1.5])
def test_simulator_load_refuses_huge_rows(rows: object, tmp_path: Path) -> None:
    d = _sim_folder(tmp_path)
    with pytest.raises(FormatError, match="rows"):
        eiesim.load(d, rows=rows)  # type: ignore[arg-type]


def test_simulator_save_leaves_no_partial_folder_on_a_failed_write(tmp_path: Path) -> None:
    """A real write failure: the child process may write at most 2 KB per file (RLIMIT_FSIZE)."""
    rng = np.random.default_rng(2)
    m = EIEMatrix.from_codes(rng.integers(1, 4, (40, 30)), CODEBOOK, num_pes=1)
    out = tmp_path / "out"
    pid = os.fork()
    if pid == 0:  # child: the first large spm file fails with EFBIG
        code = 1
        try:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (2048, 2048))
            eiesim.save(out, m, np.zeros(40, np.float32), np.ones(30, np.float32))
        except OSError:
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the write should have failed"
    assert list(tmp_path.iterdir()) == []  # neither the folder nor its temporary name


def test_simulator_save_replaces_an_old_layout_but_not_a_foreign_folder(tmp_path: Path) -> None:
    d = _sim_folder(tmp_path)
    m, bias, act = eiesim.load(d)
    eiesim.save(d, m, bias, act)  # an existing layout is replaced whole
    assert eiesim.load(d)[0].equals(m)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sim"]
    (d / "notes.txt").write_text("mine")
    with pytest.raises(FormatError, match="other than a simulator layout"):
        eiesim.save(d, m, bias, act)
    assert (d / "notes.txt").read_text() == "mine"


def test_simulator_load_refuses_non_finite_activations(tmp_path: Path) -> None:
    d = _sim_folder(tmp_path)
    act = np.fromfile(d / "act.dat", "<f4")
    act[0] = np.nan
    act.tofile(d / "act.dat")
    with pytest.raises(FormatError, match="NaN"):
        eiesim.load(d)
