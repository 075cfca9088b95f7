"""The shared suite: every engine back-end (Python reference, scalar, AVX2, AVX-512 where the CPU
has it) on the same cases, against the float64 product within FLOAT_TOL."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pytest
from engine_cases import (
    ALL_BACKENDS,
    BACKENDS,
    CODEBOOK,
    CODEBOOKS,
    WIDE_CODEBOOK,
    assert_close,
    exact,
    from_bf16_bits,
    random_input,
    random_matrix,
    run_backend,
    to_bf16_bits,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from eie import _core
from eie.engine import available_isas, spmv, tuning
from eie.engine import kernels as _kernels
from eie.engine import layout as _layout
from eie.formats import EIEMatrix

SIZES = [1, 3, 15, 16, 17, 33]
LAYOUTS = ["sparse", "dense"]
BITS = pytest.mark.parametrize("bits", list(CODEBOOKS))
"""Codebook widths: 4-bit codes and the 8-bit layouts (5-bit and 8-bit codebooks)."""


def backend_param(name: str) -> object:
    marks = []
    if name != "reference" and name not in available_isas():
        marks.append(pytest.mark.skip(reason="CPU lacks AVX-512"))
    return pytest.param(name, marks=marks, id=name)


BACKEND_PARAMS = [backend_param(b) for b in ALL_BACKENDS]


def backend_layout_params() -> list[object]:
    """(backend, layout) pairs: every ISA with each CPU layout, and the reference once (it
    multiplies the EIE arrays directly and has no CPU layout to choose)."""
    out: list[object] = [pytest.param("reference", "auto", id="reference")]
    for p in BACKEND_PARAMS[1:]:
        name = p.values[0]  # type: ignore[attr-defined]
        out += [pytest.param(name, layout, marks=p.marks, id=f"{layout}-{name}")  # type: ignore[attr-defined]
                for layout in LAYOUTS]
    return out


BACKEND_LAYOUTS = pytest.mark.parametrize(("backend", "layout"), backend_layout_params())


def layouts_of(backend: str) -> list[str]:
    """The CPU layouts a back-end is run with (the reference has none)."""
    return ["auto"] if backend == "reference" else LAYOUTS


@BACKEND_LAYOUTS
@pytest.mark.parametrize("rows", SIZES)
@pytest.mark.parametrize("cols", SIZES)
@pytest.mark.parametrize("bits", ["4bit", "8bit"])
def test_odd_sizes(backend: str, layout: str, rows: int, cols: int, bits: str) -> None:
    rng = np.random.default_rng(rows * 100 + cols)
    m = random_matrix(rng, rows, cols, 0.4, num_pes=3, codebook=CODEBOOKS[bits])
    x = random_input(rng, (cols,), 0.6)
    bias = rng.standard_normal(rows).astype(np.float32)
    y = run_backend(backend, m, x, bias, "relu", layout=layout)
    assert_close(y, *exact(m, x, bias, "relu"))


@BACKEND_LAYOUTS
@pytest.mark.parametrize("x_kind", ["zero", "nonzero", "sparse"])
@pytest.mark.parametrize("weight_density", [0.0, 0.05, 0.5, 1.0])
@BITS
def test_inputs_and_densities(backend: str, layout: str, x_kind: str,
                              weight_density: float, bits: str) -> None:
    rng = np.random.default_rng(7)
    m = random_matrix(rng, 70, 45, weight_density, num_pes=4, empty_cols=5,
                      codebook=CODEBOOKS[bits])
    x = {"zero": np.zeros(45, np.float32),
         "nonzero": rng.uniform(0.1, 1.0, 45).astype(np.float32),
         "sparse": random_input(rng, (45,), 0.2)}[x_kind]
    y = run_backend(backend, m, x, None, None, layout=layout)
    assert_close(y, *exact(m, x, None, None))
    if x_kind == "zero":
        assert np.all(y == 0)


@pytest.mark.parametrize("backend", BACKEND_PARAMS)
@pytest.mark.parametrize("num_pes", [1, 2, 3, 4, 8, 16, 32, 64, 256])
def test_pe_counts_and_fillers(backend: str, num_pes: int) -> None:
    # 2-bit relative indices and long zero runs: many fillers in every PE's slice.
    rng = np.random.default_rng(num_pes)
    m = random_matrix(rng, 300, 20, 0.02, num_pes=num_pes, index_bits=2)
    assert m.num_fillers > 0 or num_pes >= 64
    x = random_input(rng, (20,), 0.7)
    for layout in layouts_of(backend):
        assert_close(run_backend(backend, m, x, layout=layout), *exact(m, x, None, None))


@BACKEND_LAYOUTS
@pytest.mark.parametrize("batch", [1, 2, 3, 7, 8, 9, 15, 16, 17, 40])
@pytest.mark.parametrize("act_density", [0.3, 1.0])
@BITS
def test_batches(backend: str, layout: str, batch: int, act_density: float, bits: str) -> None:
    # Sparse inputs make the engine loop over batch-1 multiplies (each input visits only its own
    # active columns), dense ones use the batch kernels: both paths, every back-end.
    rng = np.random.default_rng(batch)
    m = random_matrix(rng, 131, 77, 0.3, num_pes=8, empty_cols=3, codebook=CODEBOOKS[bits])
    x = random_input(rng, (batch, 77), act_density)
    x[0] = 0  # an all-zero row inside a batch
    bias = rng.standard_normal(131).astype(np.float32)
    y = run_backend(backend, m, x, bias, "relu", layout=layout)
    assert y.shape == (batch, 131)
    assert_close(y, *exact(m, x, bias, "relu"))


@pytest.mark.parametrize("backend", [b for b in BACKEND_PARAMS if b.values[0] != "reference"])
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("batch", [None, 5])
@BITS
def test_input_dtypes(backend: str, layout: str, dtype: str, batch: int | None,
                      bits: str) -> None:
    rng = np.random.default_rng(3)
    m = random_matrix(rng, 90, 64, 0.2, codebook=CODEBOOKS[bits])
    shape = (64,) if batch is None else (batch, 64)
    x32 = random_input(rng, shape, 0.5)
    if dtype == "float16":
        x, x_exact, input_dtype = x32.astype(np.float16), x32.astype(np.float16), None
    elif dtype == "bfloat16":
        x = to_bf16_bits(x32)
        x_exact, input_dtype = from_bf16_bits(x), "bfloat16"
    else:
        x, x_exact, input_dtype = x32, x32, None
    y = spmv(m, x, layout=layout, isa=backend, input_dtype=input_dtype)
    assert y.dtype == np.float32
    assert_close(y, *exact(m, x_exact, None, None))
    y_in = spmv(m, x, layout=layout, isa=backend, input_dtype=input_dtype, out_dtype="input")
    assert y_in.dtype == x.dtype
    if dtype == "bfloat16":
        np.testing.assert_allclose(from_bf16_bits(y_in), y, rtol=2**-7, atol=1e-30)
    else:
        np.testing.assert_allclose(y_in.astype(np.float32), y, rtol=1e-3, atol=1e-6)


@pytest.mark.parametrize("backend", [b for b in BACKEND_PARAMS if b.values[0] != "reference"])
@pytest.mark.parametrize("bits", ["4bit", "8bit"])
def test_large_layer_threads_and_blocks(backend: str, bits: str) -> None:
    # Several row blocks (rows > 4096) and both thread counts; per-row accumulation order does not
    # depend on the thread count, so results are bit-identical.
    rng = np.random.default_rng(11)
    m = random_matrix(rng, 5000, 300, 0.1, num_pes=64, codebook=CODEBOOKS[bits])
    x = random_input(rng, (300,), 0.35)
    for layout in LAYOUTS:
        y1 = run_backend(backend, m, x, layout=layout, threads=1)
        y2 = run_backend(backend, m, x, layout=layout, threads=2)
        np.testing.assert_array_equal(y1, y2)
        assert_close(y1, *exact(m, x, None, None))


@BITS
def test_scalar_sparse_and_dense_agree_exactly(bits: str) -> None:
    # Both scalar kernels add the same rounded products in the same (column) order.
    rng = np.random.default_rng(5)
    m = random_matrix(rng, 97, 211, 0.3, codebook=CODEBOOKS[bits])
    x = random_input(rng, (211,), 0.5)
    np.testing.assert_array_equal(spmv(m, x, layout="sparse", isa="scalar"),
                                  spmv(m, x, layout="dense", isa="scalar"))


def test_infinite_activation_meets_only_zero_weights() -> None:
    codes = np.array([[1, 0], [0, 2]], np.uint8)
    from eie.formats import EIEMatrix

    for cb in (CODEBOOK[:3], WIDE_CODEBOOK):
        m = EIEMatrix.from_codes(codes, cb, num_pes=1)
        x = np.array([1.0, np.inf], np.float32)
        for isa in available_isas():
            for layout in LAYOUTS:
                y = spmv(m, x, layout=layout, isa=isa)
                assert y[0] == cb[1] and y[1] == np.inf * cb[2]


@settings(max_examples=60, deadline=None, derandomize=True)
@given(rows=st.integers(1, 40), cols=st.integers(1, 40), density=st.floats(0, 1),
       act_density=st.floats(0, 1), num_pes=st.sampled_from([1, 2, 3, 4, 8, 64]),
       index_bits=st.sampled_from([1, 2, 4]), batch=st.integers(1, 16),
       layout=st.sampled_from(LAYOUTS), relu=st.booleans(), seed=st.integers(0, 2**16))
def test_property_every_backend_matches(rows: int, cols: int, density: float,
                                        act_density: float, num_pes: int, index_bits: int,
                                        batch: int, layout: str, relu: bool, seed: int) -> None:
    rng = np.random.default_rng(seed)
    m = random_matrix(rng, rows, cols, density, num_pes=num_pes, index_bits=index_bits)
    x = random_input(rng, (batch, cols), act_density)
    bias = rng.standard_normal(rows).astype(np.float32)
    act = "relu" if relu else None
    expect = exact(m, x, bias, act)
    for backend in BACKENDS:
        assert_close(run_backend(backend, m, x, bias, act, layout=layout), *expect)


@pytest.mark.parametrize("backend", BACKEND_PARAMS)
@pytest.mark.parametrize("batch", [None, 3, 16])
def test_same_code_runs(backend: str, batch: int | None) -> None:
    # The sparse layout splits each column into groups of 4 entries sharing one code and a tail
    # of the < 4 left over per code. Column j holds runs of j % 10 entries of code 1 and
    # (j // 10) % 10 of code 2 at random rows, so every (groups, tail) split occurs.
    rng = np.random.default_rng(5)
    rows, cols = 200, 100
    codes = np.zeros((rows, cols), np.uint8)
    for j in range(cols):
        n1, n2 = j % 10, (j // 10) % 10
        picked = rng.choice(rows, n1 + n2, replace=False)
        codes[picked[:n1], j] = 1
        codes[picked[n1:], j] = 2
    m = EIEMatrix.from_codes(codes, CODEBOOK, num_pes=4)
    shape = (cols,) if batch is None else (batch, cols)
    x = random_input(rng, shape, 0.8)
    y = run_backend(backend, m, x, layout="sparse")
    assert_close(y, *exact(m, x, None, None))


@pytest.mark.parametrize("backend", [b for b in BACKEND_PARAMS if b.values[0] != "reference"])
@pytest.mark.parametrize("layout_name", LAYOUTS)
@pytest.mark.parametrize("batch", [None, 5])
@pytest.mark.parametrize("act_density", [0.0, 0.004, 0.5, 1.0])
@BITS
def test_column_split(backend: str, layout_name: str, batch: int | None, act_density: float,
                      bits: str) -> None:
    # A layout with fewer row blocks than threads (here built for 1 thread: 3 blocks) runs with
    # the active columns split between the threads and the partial sums added: same result
    # within tolerance, including with fewer active columns than threads.
    rng = np.random.default_rng(17)
    m = random_matrix(rng, 9000, 250, 0.05, num_pes=8, codebook=CODEBOOKS[bits])
    lay = _layout.build(m.to_codes(), m.codebook, layout_name, threads=1)
    assert len(lay.row_blocks) - 1 == 3
    x = random_input(rng, (250,) if batch is None else (batch, 250), act_density)
    bias = rng.standard_normal(9000).astype(np.float32)
    for threads in (2, 4):
        y = _kernels.matmul(lay, x, bias, "relu", threads=threads, isa=backend)
        assert_close(y, *exact(m, x, bias, "relu"))


@pytest.fixture
def row_view_threshold() -> Iterator[Callable[[float], None]]:
    """Set the activation fraction from which batch-1 multiplies use the row view; restored."""
    yield _core.set_row_view_min_act
    tuning.apply()  # every ISA's own value back (the setter set them all)


@pytest.mark.parametrize("backend", [b for b in BACKEND_PARAMS if b.values[0] != "reference"])
@pytest.mark.parametrize("use_rows", [True, False])
@pytest.mark.parametrize("rows", [1, 3, 15, 16, 17, 33])
def test_row_view(backend: str, use_rows: bool, rows: int,
                  row_view_threshold: Callable[[float], None]) -> None:
    # Wide 4-bit sparse layers also hold a row-major view, used for batch-1 multiplies with dense
    # activations; forced on and off here, both must match the exact product (odd sizes, empty
    # columns, runs of one code of every length, bias + ReLU, an infinite activation whose column
    # has no weight).
    row_view_threshold(0.0 if use_rows else 2.0)
    rng = np.random.default_rng(rows)
    for cols, density in ((2 * rows, 0.5), (2 * rows + 37, 0.9), (300, 0.1), (4096, 0.05)):
        m = random_matrix(rng, rows, cols, density, num_pes=4, empty_cols=2)
        lay = _layout.build(m.to_codes(), m.codebook, "sparse", threads=1)
        assert lay.has_row_view
        x = random_input(rng, (cols,), 0.9)
        bias = rng.standard_normal(rows).astype(np.float32)
        for threads in (1, 2):
            y = _kernels.matmul(lay, x, bias, "relu", threads=threads, isa=backend)
            assert_close(y, *exact(m, x, bias, "relu"))
    codes = np.zeros((rows, 40), np.uint8)
    codes[:, 1::2] = 3  # every other column; column 0 (all zero weights) meets an inf
    m = EIEMatrix.from_codes(codes, CODEBOOK, num_pes=2)
    x = np.ones(40, np.float32)
    x[0] = np.inf
    y = _kernels.matmul(_layout.build(codes, CODEBOOK, "sparse", threads=1), x, isa=backend)
    np.testing.assert_allclose(y, np.full(rows, 20 * CODEBOOK[3]), rtol=1e-6)


def test_row_view_threshold_is_validated(row_view_threshold: Callable[[float], None]) -> None:
    # Which layouts hold a row view: tests/engine/test_sparse_rows.py
    with pytest.raises(ValueError, match="threshold"):
        row_view_threshold(-0.5)
    with pytest.raises(ValueError, match="threshold"):
        row_view_threshold(float("nan"))
