"""The compiled core: ISA detection and dispatch, and the C++ decoder against the numpy one."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from eie import _core
from eie.formats import EIEMatrix
from eie.formats.eie_matrix import decode_reference

ISAS = [pytest.param(isa, marks=pytest.mark.skipif(
    isa != "scalar" and not _core.cpu_features()[isa], reason=f"this CPU lacks {isa}"))
    for isa in ("scalar", "avx2", "avx512")]


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("n", [0, 1, 31, 32, 33, 63, 64, 65, 1000])
def test_max_u8_every_isa(isa: str, n: int) -> None:
    rng = np.random.default_rng(n)
    a = rng.integers(0, 200, n).astype(np.uint8)
    if n:
        a[n - 1] = 250  # the maximum sits in the tail
    expected = int(a.max()) if n else 0
    assert _core.max_u8(a, isa) == expected
    # Bytes past the end are never read: a view that stops before a larger value.
    big = np.concatenate([a, np.array([255], np.uint8)])
    assert _core.max_u8(big[:n], isa) == expected


def test_unsupported_isa_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown ISA"):
        _core.max_u8(np.zeros(3, np.uint8), "sse9")


def test_wrong_dtype_fails_loudly() -> None:
    with pytest.raises(TypeError):
        _core.max_u8(np.zeros(3, np.int32), "")


def test_forced_isa_from_environment() -> None:
    code = "import eie._core as c; print(c.active_isa())"
    out = subprocess.run([sys.executable, "-c", code], env={"EIE_ISA": "scalar", "PATH": ""},
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "scalar"


def test_cpp_decoder_matches_numpy_and_rejects_garbage() -> None:
    rng = np.random.default_rng(0)
    codes = np.where(rng.random((300, 41)) < 0.05, rng.integers(1, 16, (300, 41)), 0)
    m = EIEMatrix.from_codes(codes, np.arange(16, dtype=np.float32), num_pes=7)
    out = np.zeros(m.shape, np.uint8)
    _core.decode_to_codes(m.codes, m.rel_index, m.pe_offset, m.col_ptr, 300, 41, out)
    np.testing.assert_array_equal(out, decode_reference(m))
    # Random garbage arrays: the core raises ValueError or decodes in bounds, never crashes.
    for seed in range(200):
        r = np.random.default_rng(seed)
        n = int(r.integers(0, 30))
        cp = np.sort(r.integers(0, n + 1, (3, 6)), axis=1).astype(np.int64)
        if seed % 3 == 0:
            cp = r.integers(-5, n + 5, (3, 6)).astype(np.int64)
        po = np.concatenate(([0], np.cumsum(cp[:, -1]))).astype(np.int64)
        total = int(po[-1]) if po[-1] >= 0 else 0
        c = r.integers(0, 16, total).astype(np.uint8)
        rel = r.integers(0, 16, total).astype(np.uint8)
        out = np.zeros((9, 5), np.uint8)
        try:
            _core.decode_to_codes(c, rel, po, cp, 9, 5, out)
        except ValueError:
            pass
