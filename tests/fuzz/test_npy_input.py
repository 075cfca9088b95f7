"""Input arrays from files (``eie run -i``, ``eie simulate --input``, ``eie convert``): a header
declaring more data than the file holds, an empty or truncated file, pickled objects, an archive
or text are refused with one line and exit 2 before numpy allocates anything (an empty file gave
an EOFError traceback, a 100-byte file declaring 2**40 floats a MemoryError asking for 4 TiB)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

import eie
from eie.cli.main import main
from eie.errors import FormatError
from eie.formats import EIEMatrix
from eie.formats.npy_input import load_npy


def _header(shape: tuple[int, ...], descr: str = "<f4", version: int = 1) -> bytes:
    h = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape!r}, }}".encode()
    pre = 10 if version == 1 else 12
    h += b" " * (63 - (len(h) + pre) % 64) + b"\n"
    size = len(h).to_bytes(2 if version == 1 else 4, "little")
    return b"\x93NUMPY" + bytes([version, 0]) + size + h


def _npz() -> bytes:
    b = io.BytesIO()
    np.savez(b, a=np.ones(3))
    return b.getvalue()


HOSTILE = {
    "huge-1d": (_header((2**40,)) + bytes(100), r"declares a \(1099511627776,\) float32 array"),
    "huge-2d": (_header((2**20, 2**20), version=2) + bytes(100), "4398046511104 bytes"),
    "one-float-short": (_header((4,)) + bytes(12), "holds 12 bytes after the header"),
    "negative-shape": (_header((-1,)) + bytes(100), "invalid array shape"),
    "empty": (b"", "not a readable .npy array"),
    "truncated-header": (_header((3,))[:20], "not a readable .npy array"),
    "object-dtype": (_header((3,), "|O") + bytes(100), "holds Python objects"),
    "npz-archive": (_npz(), "not a readable .npy array"),
    "text": (b"1 2 3\n", "not a readable .npy array"),
    "version-3": (_header((3,)).replace(b"NUMPY\x01", b"NUMPY\x03") + bytes(12), "version"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_npy_files_are_refused_before_allocating(name: str, tmp_path: Path) -> None:
    data, match = HOSTILE[name]
    p = tmp_path / f"{name}.npy"
    p.write_bytes(data)
    with pytest.raises(FormatError, match=match):
        load_npy(p)


def test_valid_arrays_load_as_numpy_does(tmp_path: Path) -> None:
    for a in (np.arange(6, dtype=np.float32).reshape(2, 3), np.zeros(0, np.float16),
              np.asfortranarray(np.ones((3, 2)))):
        np.save(tmp_path / "a.npy", a)
        b = load_npy(tmp_path / "a.npy")
        assert b.dtype == a.dtype and np.array_equal(a, b)


@pytest.mark.parametrize("name", ["huge-1d", "empty", "object-dtype"])
def test_the_cli_refuses_them_in_one_line(name: str, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    m = EIEMatrix.from_codes([[1, 0], [0, 2]], np.array([0, 1.0, 2.0], np.float32), num_pes=2)
    model = eie.save(tmp_path / "m.eie", m)
    x = tmp_path / "x.npy"
    x.write_bytes(HOSTILE[name][0])
    for argv in (["run", str(model), "-i", str(x)],
                 ["convert", str(model), str(tmp_path / "sim"), "--input", str(x)]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "x.npy" in err, err
