"""The colrow layout (column-major, per-row / per-group codebooks, zero inputs skipped) on every
ISA against the float64 product: ragged shapes (strips of 128 rows cut short, octets cut short),
every batch 1..16, sparse and dense inputs, per-row, per-group and shared codebooks."""

from __future__ import annotations

import numpy as np
import pytest
from engine_cases import BACKENDS, assert_close, exact, random_input, run_backend

from eie import _core
from eie.engine import Engine, available_isas, layout, spmv
from eie.errors import FormatError
from eie.formats import EIEMatrix
from eie.formats.model import Layer

ISAS = [b for b in BACKENDS if b != "reference"]


def grouped(rng: np.random.Generator, rows: int, cols: int, group_rows: int,
            zero_code: bool = False, half: bool = False) -> EIEMatrix:
    """``half``: codebook values that are float16 values (as model files store them; the AVX2
    kernels then skip the low byte plane)."""
    codes = rng.integers(0, 16, (rows, cols))
    cb = rng.standard_normal((-(-rows // group_rows), 16)).astype(np.float32)
    if half:
        cb = cb.astype(np.float16).astype(np.float32)
    if zero_code:
        codes[rng.random((rows, cols)) < 0.5] = 0
        cb[:, 0] = 0.0
    return EIEMatrix.from_group_codes(codes, cb, group_rows, num_pes=1, zero_code=zero_code)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("rows, cols", [(1, 1), (7, 17), (9, 130), (129, 33), (200, 301),
                                        (257, 64)])
@pytest.mark.parametrize("group_rows, half", [(1, False), (3, False), (16, False), (1, True),
                                              (3, True)])
def test_colrow_matches_exact_every_batch(isa: str, rows: int, cols: int,
                                          group_rows: int, half: bool) -> None:
    rng = np.random.default_rng(rows * 31 + cols + group_rows)
    m = grouped(rng, rows, cols, group_rows, zero_code=group_rows == 3, half=half)
    bias = rng.standard_normal(rows).astype(np.float32)
    for batch in range(1, 17):
        density = (0.0, 0.5, 0.2, 1.0)[batch % 4]  # 0.2: tiles split into single inputs
        x = random_input(rng, (batch, cols), density)
        y = run_backend(isa, m, x, bias, "relu", layout="colrow")
        assert_close(y, *exact(m, x, bias, "relu"))
    x1 = random_input(rng, (cols,), 0.6)
    assert_close(run_backend(isa, m, x1, None, None, layout="colrow"), *exact(m, x1, None, None))


@pytest.mark.parametrize("isa", ISAS)
def test_colrow_equals_rowwise_and_skips_only_zeros(isa: str) -> None:
    rng = np.random.default_rng(5)
    m = grouped(rng, 576, 576, 1)
    x = random_input(rng, (5, 576), 0.5)
    x[2] = 0.0  # an input with no active column at all
    x[3, :] = np.where(x[3] == 0, np.float32(-0.0), x[3])  # -0.0 is a zero too
    y = spmv(m, x, layout="colrow", isa=isa)
    assert_close(y, *exact(m, x, None, None))
    np.testing.assert_allclose(y, spmv(m, x, layout="rowwise", isa=isa), rtol=1e-4, atol=1e-4)
    assert np.all(y[2] == 0.0)
    x[4, 7] = np.nan  # a NaN input is not skipped
    assert np.all(np.isnan(spmv(m, x, layout="colrow", isa=isa)[4]))


def test_colrow_threads_give_the_same_bits() -> None:
    rng = np.random.default_rng(1)
    m = grouped(rng, 333, 700, 1)
    x = random_input(rng, (11, 700), 0.6)
    for isa in available_isas():
        one = spmv(m, x, threads=1, isa=isa, layout="colrow")
        np.testing.assert_array_equal(spmv(m, x, threads=2, isa=isa, layout="colrow"), one)
        np.testing.assert_array_equal(spmv(m, x, threads=3, isa=isa, layout="colrow"), one)


def test_colrow_shared_codebook_and_16_bit_inputs() -> None:
    rng = np.random.default_rng(2)
    codes = rng.integers(0, 16, (70, 260))
    cb = np.linspace(-1, 1, 16).astype(np.float32)
    cb[0] = 0.0
    m = EIEMatrix.from_codes(codes, cb, num_pes=4)
    lay = layout.from_matrix(m, "colrow")
    assert lay.kind == "colrow" and lay.group_rows == 0 and lay.nnz == np.count_nonzero(codes)
    x = random_input(rng, (3, 260), 0.7)
    assert_close(spmv(m, x, layout="colrow"), *exact(m, x, None, None))
    xh = x.astype(np.float16)
    assert_close(spmv(m, xh, layout="colrow"), *exact(m, xh.astype(np.float32), None, None))
    built = layout.build(codes.astype(np.uint8), cb, layout="colrow")
    assert built.kind == "colrow"


def test_colrow_engine_and_layout_bytes() -> None:
    rng = np.random.default_rng(3)
    m = grouped(rng, 300, 256, 1)
    eng = Engine(Layer("q", m, None), layout_name="colrow")
    x = random_input(rng, (4, 256), 0.5)
    assert_close(eng(x), *exact(m, x, None, None))
    lay = layout.from_matrix(m, "colrow")
    # two full strips of 128 rows and a last one of 48 (44 rounded up to 8): half a byte each;
    # the fp32 codebooks, and the same as byte planes (64 bytes per codebook)
    assert lay.nbytes == (2 * 128 + 48) * 256 // 2 + 300 * 16 * 4 + 300 * 64


def test_colrow_refuses_bad_input() -> None:
    rng = np.random.default_rng(4)
    codes = rng.integers(0, 4, (10, 10)).astype(np.uint8)
    cbs = rng.standard_normal((10, 4)).astype(np.float32)
    with pytest.raises(ValueError, match="outside the codebook of 3 entries"):
        _core.build_colrow_layout(codes, np.ascontiguousarray(cbs[:, :3]), 1)
    with pytest.raises(ValueError, match="need 4 codebooks, found 10"):
        _core.build_colrow_layout(codes, cbs, 3)
    bad = cbs.copy()
    bad[2, 1] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        _core.build_colrow_layout(codes, bad, 1)
    with pytest.raises(ValueError, match="1..16 entries"):
        _core.build_colrow_layout(codes, np.zeros((10, 17), np.float32), 1)
    wide = EIEMatrix.from_group_codes(rng.integers(0, 32, (4, 4)), rng.standard_normal((4, 32)),
                                      1, zero_code=False)
    with pytest.raises(FormatError, match="at most 16 entries"):
        layout.from_matrix(wide, "colrow")


def test_bench_colrow_prints_every_case(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from eie.cli.bench_scripts import main

    assert main(["colrow", "--shapes", "smollm", "--batches", "1,3", "--sparsity", "0.5",
                 "--budget", "0", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["cases"]) == 4 * 2
    assert all(c["colrow_cpu_us"] > 0 and c["speedup_cpu"] > 0 for c in out["cases"])
    assert main(["colrow", "--batches", "17"]) == 2
    assert main(["colrow", "--sparsity", "x"]) == 2


def test_bench_colrow_module_command() -> None:
    """``python -m eie.engine.bench_colrow`` is the same command line: a bad batch is one line,
    exit 2."""
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "eie.engine.bench_colrow", "--batches", "17"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and r.stdout == ""
    assert len(r.stderr.strip().splitlines()) == 1
    assert r.stderr.startswith("colrow: error: batches should be 1..16")
