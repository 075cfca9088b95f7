"""The C++ cycle loop against the Python reference model, and outputs against the reference
engine's fixed-point path (bit for bit), on random layers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eie.engine.fixed_point import FixedPointFormat
from eie.engine.reference import spmv_fixed
from eie.formats import EIEMatrix
from eie.formats.benchmark_layers import make_layer, random_codebook, random_codes
from eie.sim import HardwareConfig, SimResult, simulate

FIELDS = ("cycles", "loop_cycles", "ccu_stall_cycles", "batches")
ARRAYS = ("pe_busy", "pe_starved", "pe_blocked", "pe_real_entries", "pe_filler_entries",
          "pe_columns", "fifo_histogram", "output_q")


def assert_same(a: SimResult, b: SimResult) -> None:
    for f in FIELDS:
        assert getattr(a, f) == getattr(b, f), f
    for f in ARRAYS:
        assert np.array_equal(getattr(a, f), getattr(b, f)), f
    assert a.actions == b.actions
    assert a.energy_pj == b.energy_pj


def random_layer(rng: np.random.Generator, rows: int, cols: int, density: float, act_density: float,
                 num_pes: int, index_bits: int) -> tuple[EIEMatrix, np.ndarray]:
    codes = random_codes(rows, cols, density, rng)
    m = EIEMatrix.from_codes(codes, random_codebook(), num_pes, index_bits)
    x = np.where(rng.random(cols) < act_density, rng.normal(size=cols), 0).astype(np.float32)
    return m, x


@settings(max_examples=25)
@given(rows=st.integers(1, 40), cols=st.integers(1, 40), density=st.floats(0, 1),
       act_density=st.floats(0, 1), num_pes=st.sampled_from([1, 2, 3, 4, 5, 16, 17]),
       fifo=st.sampled_from([1, 2, 3, 8]), index_bits=st.sampled_from([1, 2, 4]),
       width=st.sampled_from([8, 16, 64]), regfile=st.sampled_from([1, 2, 64]),
       bypass=st.booleans(), banks=st.sampled_from([1, 2]), seed=st.integers(0, 2**16))
def test_core_matches_reference_model(rows: int, cols: int, density: float, act_density: float,
                                      num_pes: int, fifo: int, index_bits: int, width: int,
                                      regfile: int, bypass: bool, banks: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    m, x = random_layer(rng, rows, cols, density, act_density, num_pes, index_bits)
    cfg = HardwareConfig(num_pes=num_pes, fifo_depth=fifo, index_bits=index_bits,
                         spmat_sram_width_bits=width, act_regfile_entries=regfile,
                         arith_bypass=bypass, ptr_banks=banks)
    bias = rng.normal(size=rows).astype(np.float32)
    fmt = FixedPointFormat(act_frac_bits=10, weight_frac_bits=12)
    core = simulate(m, x, bias, cfg, activation="relu", fmt=fmt)
    ref = simulate(m, x, bias, cfg, activation="relu", fmt=fmt, engine="reference")
    assert_same(core, ref)
    assert np.array_equal(core.output_q,
                          spmv_fixed(m, fmt.quantize_act(x), bias, "relu", fmt))
    # Invariants: every PE cycle is in exactly one class; each PE popped every broadcast.
    total = core.pe_busy + core.pe_starved + core.pe_blocked
    assert np.all(total == core.loop_cycles)
    assert np.all(core.pe_columns == core.actions["ccu", "broadcast"])
    nz_cols = x != 0
    # The bias rides as one more column (one MAC per nonzero quantized bias).
    expected_macs = (int(np.count_nonzero(m.to_codes()[:, nz_cols]))
                     + int(np.count_nonzero(fmt.quantize_bias(bias))))
    assert core.macs == expected_macs
    assert core.actions["ccu", "broadcast"] == int(np.count_nonzero(fmt.quantize_act(x))) + 1


@pytest.mark.parametrize("name", ["alex8", "nt_lstm"])
@pytest.mark.parametrize("num_pes", [16, 64])
def test_benchmark_layers_bit_exact(name: str, num_pes: int) -> None:
    m, x = make_layer(name, num_pes=num_pes, seed=3)
    r = simulate(m, x, config=HardwareConfig(num_pes=num_pes))
    assert np.array_equal(r.output_q, spmv_fixed(m, r.fmt.quantize_act(x), fmt=r.fmt))
    assert r.macs == int(np.count_nonzero(m.to_codes()[:, x != 0]))
    assert 0.5 < r.load_efficiency <= 1.0


def test_relayout_for_another_pe_count() -> None:
    # A matrix laid out for 8 PEs simulated on 4 (and 2-bit indices): same values.
    rng = np.random.default_rng(0)
    m, x = random_layer(rng, 50, 30, 0.2, 0.5, 8, 4)
    fmt = FixedPointFormat(act_frac_bits=10, weight_frac_bits=12)
    r = simulate(m, x, config=HardwareConfig(num_pes=4, index_bits=2), fmt=fmt)
    assert r.config.num_pes == 4 and r.pe_busy.shape == (4,)
    assert np.array_equal(r.output_q, spmv_fixed(m, fmt.quantize_act(x), fmt=fmt))
    r2 = simulate(m.with_num_pes(4, 2), x, config=HardwareConfig(num_pes=4, index_bits=2),
                  fmt=fmt)
    assert_same(r, r2)


@pytest.mark.parametrize(("rows", "cols"), [(0, 5), (5, 0), (1, 1)])
def test_degenerate_shapes(rows: int, cols: int) -> None:
    # (0, 5): five broadcasts, each an empty column on every PE (1 pointer-read cycle each).
    m = EIEMatrix.from_codes(np.zeros((rows, cols), np.uint8), np.array([0, 1.0], np.float32),
                             num_pes=4)
    x = np.ones(cols, np.float32)
    core = simulate(m, x, config=HardwareConfig(num_pes=4))
    ref = simulate(m, x, config=HardwareConfig(num_pes=4), engine="reference")
    assert_same(core, ref)
    assert core.output_q.shape == (rows,) and not core.output_q.any()
    assert core.macs == 0
    assert core.actions["ccu", "broadcast"] == cols
    assert core.pe_busy.tolist() == [cols] * 4


def test_core_rejects_inconsistent_input() -> None:
    from eie.errors import EngineError
    from eie.sim.simulate import loop_params, run_core

    m, x = random_layer(np.random.default_rng(0), 8, 8, 1.0, 1.0, 2, 4)
    x_q = FixedPointFormat().quantize_act(x)
    short_codebook = np.zeros(3, np.int16)  # codes go up to 15
    with pytest.raises(EngineError, match="codebook"):
        run_core(m, x_q, short_codebook, loop_params(HardwareConfig(num_pes=2)))
    with pytest.raises(EngineError, match="x should have"):
        run_core(m, x_q[:-1], np.zeros(16, np.int16), loop_params(HardwareConfig(num_pes=2)))


@pytest.mark.parametrize(("num_pes", "index_bits"), [(64, 4), (16, 2), (1, 4), (7, 3)])
def test_sparse_layer_generation_lays_out_like_the_encoder(num_pes: int, index_bits: int) -> None:
    # make_layer lays the drawn nonzeros out itself: the arrays must be the encoder's, and the
    # weights the same at every layout.
    from eie.formats.benchmark_layers import BENCHMARKS

    m, x = make_layer("nt_lstm", num_pes=num_pes, seed=5, index_bits=index_bits)
    ref = EIEMatrix.from_codes(m.to_codes(), m.codebook, num_pes, index_bits)
    for f in ("codes", "rel_index", "pe_offset", "col_ptr"):
        assert np.array_equal(getattr(m, f), getattr(ref, f)), f
    base, x0 = make_layer("nt_lstm", num_pes=64, seed=5)
    assert np.array_equal(m.to_codes(), base.to_codes()) and np.array_equal(x, x0)
    spec = BENCHMARKS["nt_lstm"]
    assert m.nnz / (spec.rows * spec.cols) == pytest.approx(spec.weight_density, abs=0.003)
