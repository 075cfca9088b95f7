"""Block-CSC on the cycle loop: the block stream by hand, the compiled loop against the Python
reference model on it, and its output and counts against the same layer in EIE's format."""

from __future__ import annotations

import numpy as np
import pytest

from eie.engine.fixed_point import FixedPointFormat
from eie.formats import EIEMatrix
from eie.sim import HardwareConfig, simulate
from eie.sim.block_csc import expand, simulate_block_csc
from eie.sim.structured import block_csc_bits, prune

FMT = FixedPointFormat(act_frac_bits=10, weight_frac_bits=14)
CB = np.concatenate(([0.0], np.linspace(-1, 1, 15))).astype(np.float32)


def test_block_stream_by_hand() -> None:
    # 1 PE, 24 rows = 6 blocks of 4, one column: block 0 (rows 0-3, row 1 zero) and block 5
    # (rows 20-23). 2-bit index: a gap of 4 zero blocks needs one filler block.
    codes = np.zeros((24, 1), np.uint8)
    codes[[0, 2, 3], 0] = [1, 2, 3]
    codes[20:24, 0] = 4
    m = EIEMatrix.from_codes(codes, CB, num_pes=1, index_bits=2)
    s = expand(m)
    assert s.codes.tolist() == [1, 0, 2, 3, 0, 0, 0, 0, 4, 4, 4, 4]
    assert s.rel_index.tolist() == [0, 0, 0, 0, 12, 0, 0, 0, 0, 0, 0, 0]
    assert (s.blocks, s.filler_blocks, s.col_ptr.tolist()) == (3, 1, [[0, 12]])
    assert block_csc_bits(m) == (m.num_entries * 6, 3 * (4 * 4 + 2))
    x = np.ones(1, np.float32)
    r = simulate_block_csc(m, x, HardwareConfig(num_pes=1, index_bits=2), FMT)
    # 12 issue slots (a column of 12) and one line: 64 // (4 x 4 + 2) = 3 blocks per line.
    assert r["loop_cycles"] - simulate_block_csc(m, np.zeros(1, np.float32),
                                                 HardwareConfig(num_pes=1, index_bits=2),
                                                 FMT)["loop_cycles"] == 12
    assert r["actions"]["spmat_sram", "read_line"] == 1
    assert r["actions"]["arith", "mac"] == 7


@pytest.fixture(scope="module")
def block_layer() -> tuple[EIEMatrix, np.ndarray]:
    rng = np.random.default_rng(2)
    rows, cols = 128, 96
    mask = prune(rng.normal(size=(rows, cols)), 0.15, "block", 4)
    codes = np.where(mask, rng.integers(1, 16, (rows, cols)), 0)
    x = np.where(rng.random(cols) < 0.5, rng.random(cols) + 0.05, 0).astype(np.float32)
    return EIEMatrix.from_codes(codes, CB, num_pes=4, index_bits=2), x


@pytest.mark.parametrize("fifo", [1, 2, 8])
def test_core_and_reference_agree_on_the_block_stream(block_layer: tuple[EIEMatrix, np.ndarray],
                                                      fifo: int) -> None:
    m, x = block_layer
    cfg = HardwareConfig(num_pes=4, index_bits=2, fifo_depth=fifo, arith_bypass=fifo != 2)
    core = simulate_block_csc(m, x, cfg, FMT)
    ref = simulate_block_csc(m, x, cfg, FMT, engine="reference")
    for name in ("acc", "pe_counters", "fifo_hist", "actions", "globals"):
        np.testing.assert_array_equal(getattr(core["counters"], name),
                                      getattr(ref["counters"], name), err_msg=name)
    assert core["filler_blocks"] > 0  # 2-bit indices: long runs of zero blocks


def test_block_csc_computes_the_same_layer_with_fewer_line_reads(
        block_layer: tuple[EIEMatrix, np.ndarray]) -> None:
    m, x = block_layer
    cfg = HardwareConfig(num_pes=4, index_bits=2)
    b = simulate_block_csc(m, x, cfg, FMT)
    e = simulate(m, x, config=cfg, fmt=FMT)
    np.testing.assert_array_equal(b["output_q"], e.output_q)
    assert b["actions"]["arith", "mac"] == e.actions["arith", "mac"]
    assert b["actions"]["spmat_sram", "read_line"] < e.actions["spmat_sram", "read_line"]
    assert b["storage_bits"] == block_csc_bits(m)[1]
    assert b["energy_pj"] < e.energy_pj
