"""Layers larger than the on-chip SRAM are streamed from DRAM: bits, cycles, energy, bounds."""

from __future__ import annotations

import numpy as np
import pytest
from simtest_helpers import matrix_from_pe_rows

from eie.engine.fixed_point import FixedPointFormat
from eie.sim import HardwareConfig, simulate
from eie.sim.dram import capacity_entries, plan

FMT = FixedPointFormat(act_frac_bits=8, weight_frac_bits=12)


def test_paper_chip_capacity() -> None:
    # 128 KB of 8-bit entries per PE: 131072; 64 PEs hold 8 M entries (the paper's 8 M weights
    # at 4 bits plus their 4-bit indices).
    assert capacity_entries(HardwareConfig()) == 131072


def test_hand_computed_stream() -> None:
    # 2 PEs, 1 KB spmat SRAM = 1024 entries each; 1500 + 1000 entries, 100 columns.
    # bits = 2500 x 8 + 2 x 101 x 16 = 23232; 12.8 GB/s at 800 MHz = 128 bits/cycle:
    # transfer = ceil(23232 / 128) = 182; first chunk = half of 2 x 1024 entries = 8192 bits =
    # 64 cycles; cycles = 64 + max(100, 182 - 64) = 182 (memory-bound).
    cfg = HardwareConfig(num_pes=2, spmat_sram_kb=1)
    s = plan(cfg, [1500, 1000], 100, compute_cycles=100)
    assert (s.fits, s.bits, s.transfer_cycles, s.first_chunk_cycles, s.cycles) == \
        (False, 23232, 182, 64, 182)
    assert s.memory_bound
    # Compute-bound: the first chunk's load is not hidden.
    s2 = plan(cfg, [1500, 1000], 100, compute_cycles=1000)
    assert (s2.cycles, s2.memory_bound) == (64 + 1000, False)
    # Fits: nothing streamed.
    s3 = plan(cfg, [1000, 1000], 100, compute_cycles=100)
    assert (s3.fits, s3.bits, s3.cycles) == (True, 0, 100)


@pytest.mark.parametrize("engine", ["core", "reference"])
def test_simulate_streams_a_layer_that_does_not_fit(engine: str) -> None:
    # 1 PE, 1 KB SRAM (1024 entries); 40 columns x 30 rows all nonzero = 1200 entries.
    m = matrix_from_pe_rows(30, 40, 1, {(0, j): list(range(30)) for j in range(40)})
    x = np.ones(40, np.float32)
    small = HardwareConfig(num_pes=1, spmat_sram_kb=1)
    big = HardwareConfig(num_pes=1, spmat_sram_kb=2)
    r = simulate(m, x, config=small, fmt=FMT, engine=engine)  # type: ignore[arg-type]
    resident = simulate(m, x, config=big, fmt=FMT, engine=engine)  # type: ignore[arg-type]
    assert resident.dram is not None and resident.dram.fits
    assert r.dram is not None and not r.dram.fits
    bits = 1200 * 8 + 41 * 16
    assert r.dram.bits == bits and r.actions["dram", "read_bit"] == bits
    assert r.dram.compute_cycles == resident.cycles
    # 1 PE moves 128 bits per cycle from DRAM but consumes 8 per cycle: compute-bound.
    assert not r.dram.memory_bound
    assert r.cycles == r.dram.first_chunk_cycles + resident.cycles
    assert r.energy_pj == pytest.approx(resident.energy_pj + bits * 20.0
                                        + r.dram.first_chunk_cycles * 2.3425
                                        + r.dram.first_chunk_cycles * 0.02875)
    assert np.array_equal(r.output_q, resident.output_q)
    rec = r.to_json()
    assert rec["fits_on_chip"] is False and rec["dram_bits"] == bits
    assert "dram" in r.energy_by_module()


def test_slow_dram_makes_it_memory_bound() -> None:
    m = matrix_from_pe_rows(30, 40, 1, {(0, j): list(range(30)) for j in range(40)})
    r = simulate(m, np.ones(40, np.float32),
                 config=HardwareConfig(num_pes=1, spmat_sram_kb=1, dram_gbps=0.1), fmt=FMT)
    assert r.dram is not None and r.dram.memory_bound
    assert r.cycles == r.dram.transfer_cycles


def test_pointers_past_the_pointer_sram_stream_or_are_refused() -> None:
    from eie.errors import ConfigError
    from eie.sim.dram import pointer_bits, ptr_capacity

    # 1 KB pointer SRAM = 512 16-bit pointers per PE; a 600-column layer needs 601.
    cfg = HardwareConfig(num_pes=2, ptr_sram_kb=1)
    assert ptr_capacity(cfg) == 512
    assert pointer_bits(cfg, 511, range(511)) == 0  # 512 pointers fit
    # Broadcast columns 0, 510, 511, 599: pointers 511, 512, 599, 600 ... those >= 512 stream:
    # {512, 599, 600} x 2 PEs x 16 bits.
    assert pointer_bits(cfg, 600, [0, 510, 511, 599]) == 3 * 2 * 16
    s = plan(cfg, [100, 100], 600, compute_cycles=50, ptr_stream_bits=96 * 128)
    assert (s.fits, s.streams, s.transfer_cycles, s.cycles) == (False, "pointers", 96, 96)
    assert s.memory_bound
    with pytest.raises(ConfigError, match=r"needs 601 column pointers per PE but ptr_sram_kb=1 "
                                          r"holds 512 \(16-bit\); set stream_pointers=true"):
        pointer_bits(cfg.replace(stream_pointers=False), 600, [0])


def test_vgg6_streams_its_pointers_on_the_papers_chip() -> None:
    from eie.errors import ConfigError
    from eie.formats.benchmark_layers import make_layer

    m, x = make_layer("vgg6", num_pes=64, seed=0)
    r = simulate(m, x, fmt=FMT)  # 25,089 pointers per PE, 16,384 fit in 32 KB
    big = simulate(m, x, config=HardwareConfig(ptr_sram_kb=64), fmt=FMT)
    assert r.dram is not None and big.dram is not None
    assert big.dram.fits and not r.dram.fits and r.dram.streams == "pointers"
    assert r.loop_cycles == big.loop_cycles  # same compute; latency the larger of the two
    assert r.cycles == max(big.cycles, r.dram.transfer_cycles)
    nz = np.flatnonzero(FMT.quantize_act(x))
    want = len({p for j in nz for p in (j, j + 1) if p >= 16384}) * 64 * 16
    assert r.dram.bits == want
    assert r.energy_pj > big.energy_pj + want * 20 * 0.99  # 20 pJ per DRAM bit
    with pytest.raises(ConfigError, match="25,089 column pointers per PE"):
        simulate(m, x, config=HardwareConfig(stream_pointers=False), fmt=FMT)
