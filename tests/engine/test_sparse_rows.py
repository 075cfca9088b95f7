"""The sparse layout's row view on batches: every 4-bit sparse layout holds its entries by row too
(column panels of 4096 columns), and a batch of 2..16 whose inputs cover most columns runs on it
(``rows_batch``: each output's batch accumulated in registers). Forced on and off, on every ISA,
against the float64 product; the two paths must agree with each other on zero, infinite and NaN
activations as well."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pytest
from engine_cases import (
    ALL_BACKENDS,
    CODEBOOK,
    CODEBOOKS,
    assert_close,
    exact,
    random_input,
    random_matrix,
)

from eie import _core
from eie.engine import available_isas, tuning
from eie.engine import kernels as _kernels
from eie.engine import layout as _layout

ISAS = [pytest.param(b, id=b, marks=[] if b in available_isas() else
                     [pytest.mark.skip(reason="CPU lacks AVX-512")])
        for b in ALL_BACKENDS if b != "reference"]
ROWS, COLUMNS = 1e-9, 1e6  # row_batch_bias values forcing the row view / the column kernels


@pytest.fixture
def row_batch() -> Iterator[Callable[[float], None]]:
    """Set the bias on the row view's cost in the batch kernel choice; restored afterwards."""
    saved = _core.row_batch_bias()
    yield _core.set_row_batch_bias
    _core.set_row_batch_bias(saved)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize(("rows", "cols", "density"), [
    (1, 5, 0.6), (17, 33, 0.3), (33, 4096, 0.02),  # one panel
    (37, 4097, 0.05), (20, 8300, 0.03),  # a ragged second / third panel
    (4100, 40, 0.05),  # two row blocks
])
def test_row_batch_matches_the_exact_product(isa: str, rows: int, cols: int, density: float,
                                             row_batch: Callable[[float], None]) -> None:
    rng = np.random.default_rng(rows * 7 + cols)
    m = random_matrix(rng, rows, cols, density, num_pes=4, empty_cols=3)
    lay = _layout.build(m.to_codes(), m.codebook, "sparse", threads=1)
    assert lay.has_row_view
    bias = rng.standard_normal(rows).astype(np.float32)
    x16 = random_input(rng, (16, cols), 0.9)
    x16[5] = 0.0  # an input with no active column
    want16 = exact(m, x16, bias, "relu")
    for batch in range(2, 17):
        x, want = x16[:batch], (want16[0][:batch], want16[1][:batch])
        for force in (ROWS, COLUMNS):
            row_batch(force)
            for threads in (1, 2) if batch in (3, 16) else (1,):
                y = _kernels.matmul(lay, x, bias, "relu", threads=threads, isa=isa)
                assert_close(y, *want)


@pytest.mark.parametrize("isa", ISAS)
def test_row_batch_agrees_with_the_columns_on_inf_and_nan(isa: str,
                                                          row_batch: Callable[[float], None]
                                                          ) -> None:
    rng = np.random.default_rng(5)
    rows, cols = 50, 4500
    codes = np.where(rng.random((rows, cols)) < 0.1, rng.integers(1, 16, (rows, cols)),
                     0).astype(np.uint8)
    codes[:, 7] = 0  # a column of zero weights: its inf adds nothing
    lay = _layout.build(codes, CODEBOOK, "sparse", threads=1)
    x = random_input(rng, (9, cols), 1.0)
    x[0, 7] = np.inf
    x[1, 4400] = np.nan  # in the second panel
    x[2, 3] = -np.inf
    out = {}
    for force in (ROWS, COLUMNS):
        row_batch(force)
        out[force] = _kernels.matmul(lay, x, isa=isa)
    a, b = out[ROWS], out[COLUMNS]
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
    np.testing.assert_array_equal(np.isinf(a), np.isinf(b))
    assert np.isnan(a[1]).sum() == np.count_nonzero(codes[:, 4400])
    fin = np.isfinite(a)
    np.testing.assert_allclose(a[fin], b[fin], rtol=1e-4, atol=1e-4)
    assert np.all(np.isfinite(a[0]) | (codes[:, 7] != 0))


@pytest.mark.parametrize("isa", ISAS)
def test_batch1_row_view_over_panels(isa: str) -> None:
    # Batch 1 takes the row view on wide layers only; threshold 0 forces it on any layout, here
    # over two and three column panels.
    _core.set_row_view_min_act(0.0)
    try:
        rng = np.random.default_rng(11)
        for rows, cols in ((9, 4097), (40, 8300)):
            m = random_matrix(rng, rows, cols, 0.05, num_pes=2, empty_cols=5)
            lay = _layout.build(m.to_codes(), m.codebook, "sparse", threads=1)
            x = random_input(rng, (cols,), 0.8)
            bias = rng.standard_normal(rows).astype(np.float32)
            for threads in (1, 2):
                y = _kernels.matmul(lay, x, bias, "relu", threads=threads, isa=isa)
                assert_close(y, *exact(m, x, bias, "relu"))
    finally:
        tuning.apply()  # every ISA's own value back (the setter set them all)


def test_row_view_is_built_for_every_4bit_sparse_layout() -> None:
    cb4, cb8 = CODEBOOKS["4bit"], CODEBOOKS["8bit"]
    for shape in ((100, 300), (300, 300), (10, 5000), (2100, 1000), (5000, 20)):
        assert _layout.build(np.ones(shape, np.uint8), cb4, "sparse").has_row_view
        assert not _layout.build(np.ones(shape, np.uint8), cb4, "dense").has_row_view
        assert not _layout.build(np.ones(shape, np.uint8), cb8, "sparse").has_row_view


def test_row_batch_bias_is_validated(row_batch: Callable[[float], None]) -> None:
    for bad in (-1.0, float("nan"), 2e6):
        with pytest.raises(ValueError, match="row batch bias"):
            row_batch(bad)
    row_batch(0.0)
    assert _core.row_batch_bias() == 0.0


@pytest.fixture
def row_view_batch1() -> Iterator[Callable[[float], None]]:
    """Set the activation fraction from which batch-1 multiplies use the row view; restored."""
    yield _core.set_row_view_min_act
    tuning.apply()  # every ISA's own value back (the setter set them all)


def test_plan_names_the_path_and_stream_bytes_count_it(
        row_batch: Callable[[float], None], row_view_batch1: Callable[[float], None]) -> None:
    from eie.bench.engine_cases import _stream_bytes

    rng = np.random.default_rng(8)
    rows, cols = 300, 1200
    m = random_matrix(rng, rows, cols, 0.1, num_pes=4, empty_cols=5)
    codes = m.to_codes()
    lay = _layout.build(codes, m.codebook, "sparse", threads=1)
    per_col = np.count_nonzero(codes, axis=0)
    nnz = int(per_col.sum())

    def columns(x: np.ndarray) -> float:  # the column path streams the active columns
        act = (x != 0).any(axis=0)
        return 2.0 * per_col[act].sum() + 8.0 * act.sum() + 4.0 * (rows + cols) * len(x)

    def rows_view(x: np.ndarray) -> float:  # the row view streams every entry and row pointer
        return 2.0 * nnz + 8.0 * rows + 4.0 * (rows + cols) * len(x)

    dense_x = random_input(rng, (8, cols), 1.0)
    sparse_x = np.zeros((8, cols), np.float32)  # each input its own few columns
    for b in range(8):
        sparse_x[b, rng.choice(cols, 20, replace=False)] = 1.0
    work = float(((dense_x[:1] != 0) @ per_col).sum())
    row_view_batch1(0.0)  # batch 1 always on the row view
    assert lay.plan(dense_x[:1]) == "rows"
    assert _stream_bytes(lay, codes, dense_x[0]) == (rows_view(dense_x[:1]), work)
    row_view_batch1(2.0)  # never
    assert lay.plan(dense_x[:1]) == "columns"
    assert _stream_bytes(lay, codes, dense_x[0]) == (columns(dense_x[:1]), work)
    row_batch(ROWS)
    assert lay.plan(dense_x) == "rows"
    assert _stream_bytes(lay, codes, dense_x)[0] == rows_view(dense_x)
    row_batch(COLUMNS)
    assert lay.plan(dense_x) == "columns"
    assert _stream_bytes(lay, codes, dense_x)[0] == columns(dense_x)
    assert lay.plan(sparse_x) == "loop"  # disjoint inputs: one batch-1 multiply each
    assert _stream_bytes(lay, codes, sparse_x)[0] == sum(columns(sparse_x[b:b + 1])
                                                         for b in range(8))
    dense = _layout.build(codes, m.codebook, "dense", threads=1)
    assert dense.plan(dense_x[:1]) == "dense"
    for bad in (np.ascontiguousarray(dense_x[:, :-1]), np.zeros((17, cols), np.float32)):
        with pytest.raises(ValueError, match="columns|batch"):
            lay.plan(bad)


@pytest.mark.parametrize("isa", ISAS)
def test_dense_layout_of_a_pruned_layer_runs_batches_on_its_twin(
        isa: str, row_batch: Callable[[float], None]) -> None:
    """layout="auto" gives a 25% layer the dense layout (batch 1) and its row view as a batch
    twin: a batch of dense inputs runs on the twin, bit for bit what the sparse layout's row
    view gives; sparse inputs, batch 1 and an explicit "dense" stay on the dense kernels."""
    rng = np.random.default_rng(9)
    rows, cols = 600, 500
    m = random_matrix(rng, rows, cols, 0.25, num_pes=8)
    codes = m.to_codes()
    auto, dense = _layout.from_matrix(m, threads=1), _layout.from_matrix(m, "dense", threads=1)
    sparse = _layout.from_matrix(m, "sparse", threads=1)
    assert (auto.kind, auto.has_batch_twin, dense.has_batch_twin) == ("dense", True, False)
    assert _layout.build(codes, m.codebook, threads=1).has_batch_twin
    assert auto.nbytes > dense.nbytes
    bias = rng.standard_normal(rows).astype(np.float32)
    x = random_input(rng, (16, cols), 1.0)
    row_batch(ROWS)  # the sparse layout on its row view, as the twin runs
    for batch in (8, 16):
        assert auto.plan(x[:batch]) == "rows" and dense.plan(x[:batch]) != "rows"
        y = _kernels.matmul(auto, x[:batch], bias, "relu", threads=1, isa=isa)
        np.testing.assert_array_equal(
            y, _kernels.matmul(sparse, x[:batch], bias, "relu", threads=1, isa=isa))
        assert_close(y, *exact(m, x[:batch], bias, "relu"))
        np.testing.assert_array_equal(
            y, _kernels.matmul(auto, x[:batch], bias, "relu", threads=2, isa=isa))
    assert auto.plan(x[:1]) == "dense" and auto.plan(x[:2]) != "rows"  # 2 < 16 x 0.25
    from eie.bench.engine_cases import _stream_bytes

    io = 4.0 * (rows + cols) * 8  # the twin streams the row view: every entry, row pointers
    assert _stream_bytes(auto, codes, x[:8])[0] == 2.0 * np.count_nonzero(codes) + 8 * rows + io
    assert _stream_bytes(dense, codes, x[:8])[0] == 0.5 * rows * cols + io
    xs = random_input(rng, (8, cols), 0.05)  # few active columns: the dense kernels
    assert auto.plan(xs) != "rows"
    np.testing.assert_array_equal(_kernels.matmul(auto, xs, bias, "relu", threads=1, isa=isa),
                                  _kernels.matmul(dense, xs, bias, "relu", threads=1, isa=isa))


def test_batch_twin_follows_the_tuning() -> None:
    rng = np.random.default_rng(10)
    m = random_matrix(rng, 300, 200, 0.25, num_pes=4)
    saved = _core.tuning("avx2")["batch_twin_max_density"], _core.tuning("scalar")[
        "batch_twin_max_density"], _core.tuning("avx512")["batch_twin_max_density"]
    try:
        for isa in ("scalar", "avx2", "avx512"):
            _core.set_tuning(isa, {"batch_twin_max_density": 0.2})
        assert not _layout.from_matrix(m, threads=1).has_batch_twin
    finally:
        for isa, v in zip(("avx2", "scalar", "avx512"), saved, strict=True):
            _core.set_tuning(isa, {"batch_twin_max_density": v})
    assert _layout.from_matrix(m, threads=1).has_batch_twin
    wide = random_matrix(rng, 300, 200, 0.25, num_pes=4, codebook=CODEBOOKS["8bit"])
    lay = _core.build_cpu_layout(wide.to_codes(), CODEBOOKS["8bit"], "dense", 1, batch_twin=True)
    assert not lay.has_batch_twin  # 8-bit codes: no row view
    assert _core.build_cpu_layout(m.to_codes(), m.codebook, "dense", 1, batch_twin=True
                                  ).has_batch_twin
    with pytest.raises(ValueError, match="batch_twin_max_density should be in"):
        _core.set_tuning("avx2", {"batch_twin_max_density": 1.5})
