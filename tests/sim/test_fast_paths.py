"""The simulator's compiled fast paths against their references: the benchmark layers' layout
(``eie.formats.benchmark_layers._layout`` in the core) against ``EIEMatrix.from_codes`` on the
dense codes,
the float pass (``simulate.float_spmv``) against ``eie.engine.reference.spmv`` bit for bit, and
the core's refusals of arrays no ``EIEMatrix`` would hold."""

from __future__ import annotations

import numpy as np
import pytest

from eie import _core
from eie.engine.reference import spmv
from eie.formats import EIEMatrix
from eie.formats.benchmark_layers import BenchmarkSpec, make_layer, random_codebook
from eie.sim.pe import ACTIONS, GLOBALS, PE_COUNTERS
from eie.sim.simulate import float_spmv


def _dense_codes(m: EIEMatrix) -> np.ndarray:
    return np.asarray(m.to_codes())


@pytest.mark.parametrize(("num_pes", "index_bits"), [(64, 4), (7, 2), (1, 1), (3, 8), (16, 3)])
@pytest.mark.parametrize("density", [0.02, 0.3, 1.0])
def test_benchmark_layout_equals_the_encoder(num_pes: int, index_bits: int,
                                             density: float) -> None:
    spec = BenchmarkSpec("t", 150, 37, density, 0.5)
    m, _ = make_layer(spec, num_pes=num_pes, seed=3, index_bits=index_bits)
    codes = _dense_codes(m)
    assert (codes != 0).mean() == pytest.approx(density, abs=0.1)
    ref = EIEMatrix.from_codes(codes, random_codebook(16), num_pes=num_pes,
                               index_bits=index_bits)
    for name in ("codes", "rel_index", "pe_offset", "col_ptr"):
        np.testing.assert_array_equal(getattr(m, name), getattr(ref, name), err_msg=name)
    if index_bits <= 2 and density < 0.1:
        assert int((m.codes == 0).sum()) > 0  # fillers were needed and laid out


def test_layout_refuses_positions_out_of_order_or_outside() -> None:
    def count(pos: list[int], rows: int = 4, cols: int = 3) -> int:
        cp = np.zeros((2, cols + 1), np.int64)
        po = np.zeros(3, np.int64)
        return int(_core.sim_coo_count(np.array(pos, np.int64), rows, cols, 2, 4, cp, po))

    assert count([0, 3, 9]) == 3  # (0, 0), (3, 0), (1, 2)
    with pytest.raises(ValueError, match="should be above the previous one"):
        count([3, 0])
    with pytest.raises(ValueError, match="should be above the previous one"):
        count([5, 5])
    with pytest.raises(ValueError, match=r"position 1 \(12\) .* below rows x cols = 12"):
        count([0, 12])
    with pytest.raises(ValueError, match="rows x cols < 2"):
        count([0], rows=2**62, cols=8)
    # Pass 2 with counts that do not match its positions never writes past a PE's range.
    po = np.array([0, 1, 1], np.int64)
    with pytest.raises(ValueError, match="do not match the counts"):
        _core.sim_coo_fill(np.array([0, 2], np.int64), np.ones(2, np.uint8), 4, 3, 4, po,
                           np.zeros(1, np.uint8), np.zeros(1, np.uint8))


@pytest.mark.parametrize("name", ["alex8", "nt_lstm"])
def test_float_pass_is_the_reference_bit_for_bit(name: str) -> None:
    m, x = make_layer(name, num_pes=64, seed=1)
    rng = np.random.default_rng(0)
    bias = rng.normal(size=m.rows).astype(np.float32)
    for b, act in ((None, None), (bias, "relu"), (bias, None)):
        got = float_spmv(m, x, b, act)
        want = spmv(m, x, b, act)
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, want)


def test_float_pass_with_signed_input_and_fillers() -> None:
    rng = np.random.default_rng(5)
    codes = np.where(rng.random((90, 40)) < 0.05, rng.integers(1, 16, (90, 40)), 0)
    m = EIEMatrix.from_codes(codes, random_codebook(16), num_pes=4, index_bits=2)
    assert int((m.codes == 0).sum()) > 0
    x = np.where(rng.random(40) < 0.5, rng.normal(size=40), 0).astype(np.float32)
    np.testing.assert_array_equal(float_spmv(m, x, None, None), spmv(m, x))


def _entries(codes: list[int], rel: list[int], col_ptr: list[list[int]], rows: int
             ) -> _core.SimEntries:
    pe_offset = np.concatenate(([0], np.cumsum([p[-1] for p in col_ptr]))).astype(np.int64)
    return _core.SimEntries(np.array(codes, np.uint8), np.array(rel, np.uint8), pe_offset,
                            np.array(col_ptr, np.int64), rows, len(col_ptr[0]) - 1)


def test_float_pass_refuses_rows_past_the_layer() -> None:
    ok = _entries([1, 2], [0, 0], [[0, 1, 2]], 2)
    y = np.zeros(2)
    _core.sim_float_layer(ok, np.ones(2), np.array([0.0, 1.0, 2.0]), y)
    assert y.tolist() == [3.0, 0.0]  # both columns' entries are on row 0
    bad = _entries([1, 2], [0, 5], [[0, 1, 2]], 2)
    with pytest.raises(ValueError, match="decodes to local row 5 but the PE holds 2 rows"):
        _core.sim_float_layer(bad, np.ones(2), np.array([0.0, 1.0, 2.0]), np.zeros(2))


def test_struct_bindings_check_shapes_before_arithmetic() -> None:
    big = 2**63 - 1  # cols + 1 would overflow: refused before it is computed
    with pytest.raises(ValueError, match="rows and cols should be non-negative"):
        _core.SimEntries(np.zeros(0, np.uint8), np.zeros(0, np.uint8), np.zeros(2, np.int64),
                         np.zeros((1, 1), np.int64), 1, big)
    with pytest.raises(ValueError, match="col_ptr should have shape"):
        _core.SimEntries(np.zeros(0, np.uint8), np.zeros(0, np.uint8), np.zeros(2, np.int64),
                         np.zeros((1, 3), np.int64), 1, 1)
    with pytest.raises(ValueError, match="actions should have 13 entries"):
        _core.SimOutputs(np.zeros(1, np.int64), np.zeros((1, len(PE_COUNTERS)), np.int64),
                         np.zeros(3, np.int64), np.zeros(2, np.int64),
                         np.zeros(len(GLOBALS), np.int64))
    e = _entries([1], [0], [[0, 1]], 1)
    p = _core.SimParams()
    p.fifo_depth = 4
    out = _core.SimOutputs(np.zeros(1, np.int64), np.zeros((1, len(PE_COUNTERS)), np.int64),
                           np.zeros(3, np.int64), np.zeros(len(ACTIONS), np.int64),
                           np.zeros(len(GLOBALS), np.int64))
    with pytest.raises(ValueError, match="fifo_hist should have fifo_depth \\+ 1 entries"):
        _core.sim_layer(e, np.ones(1, np.int16), np.zeros(2, np.int16), np.zeros(0, np.int64),
                        p, out)
    p.fifo_depth = 2
    assert _core.sim_layer(e, np.ones(1, np.int16), np.array([0, 3], np.int16),
                           np.zeros(0, np.int64), p, out) > 0


def test_counter_names_come_from_the_core() -> None:
    assert ACTIONS[0] == ("ccu", "broadcast") and len(ACTIONS) == 13
    assert PE_COUNTERS[0] == "busy" and GLOBALS[0] == "loop_cycles"
    assert ACTIONS == tuple(tuple(a) for a in _core.SIM_ACTIONS)
