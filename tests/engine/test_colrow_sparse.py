"""The sparse layout with a codebook per row or per group of rows (pruned layers, code 0 =
pruned): every ISA and batch 1..16 against the float64 product, the reference engine and the
rowwise layout of the same matrix, through spmv, Engine and a saved .eie file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from engine_cases import BACKENDS, assert_close, exact, random_input, run_backend

import eie
from eie import _core
from eie.engine import Engine, available_isas, layout, spmv
from eie.errors import FormatError
from eie.formats import EIEMatrix

ISAS = [b for b in BACKENDS if b != "reference"]


def pruned_grouped(rng: np.random.Generator, rows: int, cols: int, group_rows: int,
                   density: float) -> EIEMatrix:
    codes = np.where(rng.random((rows, cols)) < density, rng.integers(1, 16, (rows, cols)), 0)
    cb = rng.standard_normal((-(-rows // group_rows), 16)).astype(np.float32)
    cb[:, 0] = 0.0
    return EIEMatrix.from_group_codes(codes, cb, group_rows, num_pes=3, zero_code=True)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("rows, cols, group_rows, density",
                         [(1, 1, 1, 1.0), (37, 50, 1, 0.2), (300, 129, 4, 0.1),
                          (4100, 40, 1, 0.05), (64, 700, 16, 0.3)])
def test_sparse_row_codebooks_match_exact_every_batch(isa: str, rows: int, cols: int,
                                                      group_rows: int, density: float) -> None:
    rng = np.random.default_rng(rows + cols * 7 + group_rows)
    m = pruned_grouped(rng, rows, cols, group_rows, density)
    bias = rng.standard_normal(rows).astype(np.float32)
    for batch in range(1, 17):
        x = random_input(rng, (batch, cols), (0.3, 0.6, 1.0)[batch % 3])
        y = run_backend(isa, m, x, bias, "relu", layout="sparse")
        assert_close(y, *exact(m, x, bias, "relu"))
    x1 = random_input(rng, (cols,), 0.5)
    assert_close(run_backend(isa, m, x1, layout="sparse"), *exact(m, x1, None, None))
    np.testing.assert_allclose(run_backend(isa, m, x1, layout="sparse"),
                               run_backend("reference", m, x1), rtol=1e-4, atol=1e-4)


def test_sparse_row_codebooks_layout_and_threads() -> None:
    rng = np.random.default_rng(1)
    m = pruned_grouped(rng, 500, 300, 5, 0.15)
    lay = layout.from_matrix(m, "sparse")
    assert lay.kind == "sparse" and lay.group_rows == 1 and lay.nnz == m.nnz
    assert not lay.has_row_view
    x = random_input(rng, (6, 300), 0.5)
    for isa in available_isas():
        one = spmv(m, x, layout="sparse", isa=isa, threads=1)
        assert_close(one, *exact(m, x, None, None))
        assert_close(spmv(m, x, layout="sparse", isa=isa, threads=2), *exact(m, x, None, None))
    np.testing.assert_allclose(spmv(m, x, layout="sparse"), spmv(m, x, layout="rowwise"),
                               rtol=1e-4, atol=1e-4)


def test_sparse_row_codebooks_engine_from_file(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    m = pruned_grouped(rng, 96, 80, 1, 0.2)
    path = tmp_path / "g.eie"
    eie.save(path, eie.Model((eie.Layer("fc", m, activation="relu"),)))
    eng = Engine.load(path, layout_name="sparse")
    assert eng.layers[0].kind == "sparse"
    x = random_input(rng, (3, 80), 0.7)
    assert_close(eng(x), *exact(m, x, None, "relu"))


def test_sparse_row_codebooks_refuse_bad_input() -> None:
    codes = np.array([[0, 1], [2, 0]], np.uint8)
    cbs = np.array([[0.0, 1.0, 2.0], [0.5, 1.0, 2.0]], np.float32)
    with pytest.raises(ValueError, match="codebook 1 entry 0 should be 0.0"):
        _core.build_sparse_grouped_layout(codes, cbs, 1)
    cbs[1, 0] = 0.0
    with pytest.raises(ValueError, match="outside the codebook of 2 entries"):
        _core.build_sparse_grouped_layout(codes, np.ascontiguousarray(cbs[:, :2]), 1)
    with pytest.raises(ValueError, match="need 1 codebooks, found 2"):
        _core.build_sparse_grouped_layout(codes, cbs, 2)
    wide = EIEMatrix.from_group_codes(np.array([[0, 20]]), np.zeros((1, 32)), 1, zero_code=True)
    with pytest.raises(FormatError, match="at most 16 entries"):
        layout.from_matrix(wide, "sparse")
