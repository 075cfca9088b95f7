"""Cycle counts and action counts worked out by hand (timelines in the comments).

Conventions (eie.sim.pe / eie.sim.ccu): the LNZD tree needs ``levels`` cycles before the first
broadcast (1 level for up to 4 PEs); a pushed activation can be popped the next cycle; a PE pops
a column and issues its first entry in the same cycle; an empty column costs one cycle; FIFO
full flags are sampled at the start of a cycle; ``cycles = loop_cycles + 5`` (pointer read and
line read of the first column, 3 more pipeline stages after the last issue). ``fifo_depth`` counts
the column a PE works on (d - 1 queued beside it; 1 is lockstep). Most timelines here use
``TREE_ONLY`` (no LNZD group bubble); the bubble and the bias column have tests of their own.
"""

from __future__ import annotations

import numpy as np
import pytest
from simtest_helpers import matrix_from_pe_rows

from eie.engine.fixed_point import FixedPointFormat
from eie.engine.reference import spmv_fixed
from eie.sim import HardwareConfig, simulate

FMT = FixedPointFormat(act_frac_bits=8, weight_frac_bits=12)
ENGINES = ("core", "reference")
TREE_ONLY = {"lnzd_group_bubble": 0}


def sixteen_by_eight() -> tuple[np.ndarray, np.ndarray]:
    """16x8 on 4 PEs (4 local rows each). Nonzero inputs: columns 0, 2, 5.

    PE 0: col0 rows 0,1,2 | col1 row 0 | col2 row 3 | col5 row 3  (col2 -> col5: same
          accumulator back to back: the bypass case); 6 entries, all in line 0.
    PE 1: col1 rows 0-3 | col2 rows 0,1 | col3 rows 0-3 | col4 rows 0-3 | col5 rows 0-3;
          processed addresses 4,5 (line 0) and 14..17 (lines 1 and 2).
    PE 2: no entries at all.
    PE 3: col0 row 1 | col5 row 1 | col7 rows 0-3.
    """
    m = matrix_from_pe_rows(16, 8, 4, {
        (0, 0): [0, 1, 2], (0, 1): [0], (0, 2): [3], (0, 5): [3],
        (1, 1): [0, 1, 2, 3], (1, 2): [0, 1], (1, 3): [0, 1, 2, 3], (1, 4): [0, 1, 2, 3],
        (1, 5): [0, 1, 2, 3],
        (3, 0): [1], (3, 5): [1], (3, 7): [0, 1, 2, 3],
    })
    x = np.array([1.0, 0, 0.5, 0, 0, -1.0, 0, 0], np.float32)
    return m, x


@pytest.mark.parametrize("engine", ENGINES)
def test_16x8_on_4_pes_exact(engine: str) -> None:
    # t0: LNZD latency.  t1: broadcast c0.  t2: PE0 c0/r0, PE1 c0 empty, PE2 c0 empty,
    # PE3 c0/r1; broadcast c2.  t3: PE0 r1, PE1 c2/r0, PE2 c2 empty, PE3 c2 empty; broadcast c5.
    # t4: PE0 r2, PE1 r1, PE2 c5 empty, PE3 c5/r1.  t5: PE0 c2/r3, PE1 c5/r0.
    # t6: PE0 c5/r3 (bypass), PE1 r1.  t7: PE1 r2.  t8: PE1 r3.  -> 9 loop cycles.
    m, x = sixteen_by_eight()
    r = simulate(m, x, config=HardwareConfig(num_pes=4, **TREE_ONLY), fmt=FMT,
                 engine=engine)  # type: ignore[arg-type]
    assert r.loop_cycles == 9
    assert r.cycles == 14
    assert r.latency_us == pytest.approx(14 / 800)
    assert r.pe_busy.tolist() == [5, 7, 3, 3]
    assert r.pe_starved.tolist() == [4, 2, 6, 6]
    assert r.pe_blocked.tolist() == [0, 0, 0, 0]
    assert r.pe_real_entries.tolist() == [5, 6, 0, 2]
    assert r.pe_filler_entries.tolist() == [0, 0, 0, 0]
    assert r.load_efficiency == pytest.approx(18 / 36)
    assert r.real_work_fraction == pytest.approx(13 / 18)
    # Occupancy (queued + the column held) at the start of t0..t8, PEs 0-3: t0, t1 all 0;
    # t2 1,1,1,1; t3 2,1,1,1; t4 3,2,1,1; t5 2,1,0,0; t6 1,1,0,0; t7, t8 0,1,0,0.
    assert r.fifo_histogram.tolist() == [18, 14, 3, 1] + [0] * 5
    a = r.actions
    assert a["ccu", "broadcast"] == 3
    assert a["src_regfile", "read"] == 3
    assert a["act_queue", "push"] == 12
    assert a["act_queue", "pop"] == 12
    assert a["ptr_sram", "read"] == 24  # 12 columns x (start, end)
    assert a["spmat_sram", "read_line"] == 5  # PE0: 1, PE1: 3, PE3: 1
    assert a["codebook", "lookup"] == 13
    assert a["arith", "mac"] == 13
    assert a["arith", "bypass"] == 1
    assert a["dst_regfile", "read"] == 12
    assert a["dst_regfile", "write"] == 13
    assert a["act_sram", "read"] == 0 and a["act_sram", "write"] == 0
    assert a["pe", "cycle"] == 4 * 14
    assert a["lnzd_node", "cycle"] == 1 * 14
    assert r.ccu_stall_cycles == 0 and r.batches == 1
    assert np.array_equal(r.output_q, spmv_fixed(m, FMT.quantize_act(x), fmt=FMT))
    assert r.gops == pytest.approx(2 * 13 / (14 / 800 * 1e3))
    assert r.dense_gops == pytest.approx(2 * 16 * 8 / (14 / 800 * 1e3))


@pytest.mark.parametrize("engine", ENGINES)
def test_bypass_disabled_blocks_one_cycle(engine: str) -> None:
    # Same timeline; PE0's c5/r3 waits at t6 (blocked) and issues at t7. PE1 still ends at t8.
    m, x = sixteen_by_eight()
    cfg = HardwareConfig(num_pes=4, arith_bypass=False, **TREE_ONLY)
    r = simulate(m, x, config=cfg, fmt=FMT, engine=engine)  # type: ignore[arg-type]
    assert r.loop_cycles == 9
    assert r.pe_busy.tolist() == [5, 7, 3, 3]
    assert r.pe_blocked.tolist() == [1, 0, 0, 0]
    assert r.pe_starved.tolist() == [3, 2, 6, 6]
    assert r.actions["arith", "bypass"] == 0
    assert r.actions["dst_regfile", "read"] == 13
    assert r.load_efficiency == pytest.approx(18 / 36)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("bypass", "loop"), [(True, 4), (False, 5)])
def test_bypass_hazard_on_critical_path(engine: str, bypass: bool, loop: int) -> None:
    # 1 PE, two columns each updating row 0: t1 bc c0, t2 issue c0 + bc c1, t3 issue c1 (or
    # blocked at t3 and issue at t4 without the bypass).
    m = matrix_from_pe_rows(1, 2, 1, {(0, 0): [0], (0, 1): [0]})
    x = np.array([1.0, 2.0], np.float32)
    r = simulate(m, x, config=HardwareConfig(num_pes=1, arith_bypass=bypass), fmt=FMT,
                 engine=engine)  # type: ignore[arg-type]
    assert r.loop_cycles == loop
    assert r.pe_blocked.tolist() == [0 if bypass else 1]
    assert r.actions["arith", "bypass"] == (1 if bypass else 0)
    assert np.array_equal(r.output_q, spmv_fixed(m, FMT.quantize_act(x), fmt=FMT))


def imbalanced_pair() -> tuple[np.ndarray, np.ndarray]:
    """2 PEs, 3 local rows each. PE0: col0 rows 0-2, col1 row 0. PE1: col0 row 0, col1 rows 0-2."""
    m = matrix_from_pe_rows(6, 2, 2, {(0, 0): [0, 1, 2], (0, 1): [0],
                                      (1, 0): [0], (1, 1): [0, 1, 2]})
    return m, np.array([1.0, 1.0], np.float32)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("depth", "loop", "stalls"),
                         [(1, 9, 3), (2, 7, 1), (3, 6, 0), (256, 6, 0)])
def test_fifo_back_pressure(engine: str, depth: int, loop: int, stalls: int) -> None:
    # Deep FIFOs: t1 bc c0, t2 bc c1; PE0 c0 at t2-t4, c1 at t5; PE1 c0 at t2, c1 at t3-t5.
    # Depth 2 (one queued beside the head): t1 bc c0; t2 both queues full -> CCU stalls; t3 bc
    # c1; PE1 starves at t3 and finishes c1 at t4-t6 -> 7 loop cycles.
    # Depth 1 (lockstep): t1 bc c0; t2-t4 stall while a PE holds c0 (PE0 until t4); t5 bc c1;
    # PE0 c1 at t6, PE1 c1 at t6-t8 -> 9 loop cycles, 3 stalls.
    m, x = imbalanced_pair()
    r = simulate(m, x, config=HardwareConfig(num_pes=2, fifo_depth=depth, **TREE_ONLY), fmt=FMT,
                 engine=engine)  # type: ignore[arg-type]
    assert r.loop_cycles == loop
    assert r.ccu_stall_cycles == stalls
    assert r.fifo_histogram.sum() == 2 * loop
    assert len(r.fifo_histogram) == depth + 1


@pytest.mark.parametrize("engine", ENGINES)
def test_all_zero_input_no_broadcast(engine: str) -> None:
    # 64 PEs: 3 LNZD levels (t0-t2), t3 the root reports no nonzero -> 4 loop cycles.
    m = matrix_from_pe_rows(128, 5, 64, {(k, j): [0, 1] for k in range(64) for j in range(5)})
    bias = np.linspace(-1, 1, 128).astype(np.float32)
    cfg = HardwareConfig(bias_column=False, **TREE_ONLY)
    r = simulate(m, np.zeros(5, np.float32), bias=bias, config=cfg, fmt=FMT, engine=engine)  # type: ignore[arg-type]
    assert r.loop_cycles == 4 and r.cycles == 9
    assert r.actions["ccu", "broadcast"] == 0
    assert r.actions["arith", "mac"] == 0
    assert r.pe_busy.sum() == 0 and r.load_efficiency == 0.0
    assert np.array_equal(r.output_q, FMT.narrow(FMT.quantize_bias(bias), relu=False))


@pytest.mark.parametrize("engine", ENGINES)
def test_fillers_cost_a_cycle(engine: str) -> None:
    # 1 PE, index_bits 2 (runs of up to 3 zeros): row 9 alone -> gap 9 = 2 fillers (4 rows
    # each) + entry with rel 1. t1 bc, t2-t4 issue F, F, E -> 5 loop cycles.
    m = matrix_from_pe_rows(10, 1, 1, {(0, 0): [9]}, index_bits=2)
    assert m.num_fillers == 2
    r = simulate(m, np.array([1.0], np.float32),
                 config=HardwareConfig(num_pes=1, index_bits=2), fmt=FMT, engine=engine)  # type: ignore[arg-type]
    assert r.loop_cycles == 5
    assert r.pe_busy.tolist() == [3]
    assert r.pe_filler_entries.tolist() == [2] and r.pe_real_entries.tolist() == [1]
    assert r.real_work_fraction == pytest.approx(1 / 3)
    assert r.actions["arith", "mac"] == 1 and r.actions["codebook", "lookup"] == 1
    assert r.to_json()["filler_entries"] == 2


@pytest.mark.parametrize("engine", ENGINES)
def test_long_input_is_batched(engine: str) -> None:
    # 2 PEs x 2 register-file entries = 4 inputs per batch; 10 inputs -> batches of 4, 4, 2.
    # Each batch: 1 LNZD level + ceil(2 x 16 / 64) = 1 load cycle = 2 cycles before its first
    # broadcast. t2-t5 bc c0-c3, t8-t11 bc c4-c7, t14-t15 bc c8-c9, last issue t16.
    m = matrix_from_pe_rows(2, 10, 2, {(k, j): [0] for k in range(2) for j in range(10)})
    x = np.linspace(0.5, 1.5, 10).astype(np.float32)
    cfg = HardwareConfig(num_pes=2, act_regfile_entries=2)
    r = simulate(m, x, config=cfg, fmt=FMT, engine=engine)  # type: ignore[arg-type]
    assert cfg.batch_cols == 4 and cfg.batch_load_cycles == 1
    assert r.batches == 3
    assert r.loop_cycles == 17
    assert r.actions["act_sram", "read"] == 10  # every input word loaded once
    one_batch = simulate(m, x, config=HardwareConfig(num_pes=2), fmt=FMT, engine=engine)  # type: ignore[arg-type]
    assert one_batch.batches == 1 and one_batch.loop_cycles == 12
    assert np.array_equal(r.output_q, one_batch.output_q)
    assert np.array_equal(r.output_q, spmv_fixed(m, FMT.quantize_act(x), fmt=FMT))


@pytest.mark.parametrize("engine", ENGINES)
def test_one_pointer_bank_costs_two_cycles_per_short_column(engine: str) -> None:
    # 1 PE, 3 columns with 1, 0, 3 entries: max(2, n) cycles each = 2 + 2 + 3, from t1.
    m = matrix_from_pe_rows(4, 3, 1, {(0, 0): [0], (0, 2): [0, 1, 2]})
    x = np.ones(3, np.float32)
    two = simulate(m, x, config=HardwareConfig(num_pes=1), fmt=FMT, engine=engine)  # type: ignore[arg-type]
    one = simulate(m, x, config=HardwareConfig(num_pes=1, ptr_banks=1), fmt=FMT,
                   engine=engine)  # type: ignore[arg-type]
    assert two.loop_cycles == 2 + 1 + 1 + 3  # 1 + 1 + 3 column cycles from t2
    assert one.loop_cycles == 2 + 2 + 2 + 3
    assert one.cycles - one.loop_cycles == 6  # 2-cycle first pointer read


@pytest.mark.parametrize("engine", ENGINES)
def test_accumulators_beyond_register_file_use_act_sram(engine: str) -> None:
    # 1 PE, 4 local rows, register file of 2: rows 2 and 3 accumulate in the activation SRAM.
    m = matrix_from_pe_rows(4, 1, 1, {(0, 0): [0, 1, 2, 3]})
    r = simulate(m, np.ones(1, np.float32),
                 config=HardwareConfig(num_pes=1, act_regfile_entries=2), fmt=FMT,
                 engine=engine)  # type: ignore[arg-type]
    a = r.actions
    assert (a["dst_regfile", "read"], a["dst_regfile", "write"]) == (2, 2)
    assert (a["act_sram", "read"], a["act_sram", "write"]) == (2, 2)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("bubble", "loop"), [(0, 4), (1, 6), (3, 10)])
def test_lnzd_group_bubble(engine: str, bubble: int, loop: int) -> None:
    # 2 PEs: LNZD groups of 2 activations (c0 c1 | c2 c3 | c4 c5), nonzeros c0 and c5. Leaving
    # group 0 (ends in a zero) and group 1 (all zero) costs a bubble each; group 2 ends nonzero.
    # t0 tree latency, t1 bc c0, t(2 + 2 x bubble) bc c5, popped and issued the cycle after.
    m = matrix_from_pe_rows(2, 6, 2, {(0, 0): [0], (1, 0): [0], (0, 5): [0], (1, 5): [0]})
    x = np.array([1.0, 0, 0, 0, 0, 1.0], np.float32)
    cfg = HardwareConfig(num_pes=2, lnzd_group_bubble=bubble)
    r = simulate(m, x, config=cfg, fmt=FMT, engine=engine)  # type: ignore[arg-type]
    assert r.loop_cycles == loop
    assert r.actions["ccu", "broadcast"] == 2
    assert r.pe_busy.tolist() == [2, 2]


@pytest.mark.parametrize("engine", ENGINES)
def test_lnzd_tail_bubble_and_empty_groups(engine: str) -> None:
    # 2 PEs, x = [1, 0 | 0, 0]: after c0 (t1) the detector leaves group 0 (t2) and group 1 (t3)
    # before the layer ends; PE issues c0 at t2 -> the CCU, not the PEs, ends the loop at t4.
    m = matrix_from_pe_rows(2, 4, 2, {(0, 0): [0], (1, 0): [0]})
    x = np.array([1.0, 0, 0, 0], np.float32)
    r = simulate(m, x, config=HardwareConfig(num_pes=2), fmt=FMT, engine=engine)  # type: ignore[arg-type]
    assert r.loop_cycles == 4
    free = simulate(m, x, config=HardwareConfig(num_pes=2, **TREE_ONLY), fmt=FMT,
                    engine=engine)  # type: ignore[arg-type]
    assert free.loop_cycles == 3


@pytest.mark.parametrize("engine", ENGINES)
def test_bias_column_costs_a_broadcast_and_its_entries(engine: str) -> None:
    # 1 PE: c0 rows 0,1 | c1 row 3; bias nonzero at rows 0 and 3. t0 tree latency, t1 bc c0,
    # t2 bc c1, t3 bc the bias column; PE: c0 t2-t3, c1 t4, bias t5-t6 -> 7 loop cycles
    # (5 when the bias is added to the accumulators for free).
    m = matrix_from_pe_rows(4, 2, 1, {(0, 0): [0, 1], (0, 1): [3]})
    x = np.array([1.0, 0.5], np.float32)
    bias = np.array([0.5, 0, 0, 0.25], np.float32)
    on = simulate(m, x, bias, HardwareConfig(num_pes=1), fmt=FMT, engine=engine)  # type: ignore[arg-type]
    off = simulate(m, x, bias, HardwareConfig(num_pes=1, bias_column=False), fmt=FMT,
                   engine=engine)  # type: ignore[arg-type]
    assert (on.loop_cycles, off.loop_cycles) == (7, 5)
    assert on.actions["ccu", "broadcast"] == 3 and off.actions["ccu", "broadcast"] == 2
    assert on.macs == 5 and off.macs == 3
    assert on.pe_columns.tolist() == [3]
    assert on.shape == (4, 2)
    want = spmv_fixed(m, FMT.quantize_act(x), bias, None, FMT)
    assert np.array_equal(on.output_q, want) and np.array_equal(off.output_q, want)
    assert on.energy_pj > off.energy_pj
