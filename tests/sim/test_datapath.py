"""The 16-bit datapath: per-layer Q formats, the accumulator width and the SQNR each result
reports."""

from __future__ import annotations

import numpy as np
import pytest
from simtest_helpers import CODEBOOK, matrix_from_pe_rows

from eie.engine.fixed_point import FixedPointFormat
from eie.errors import ConfigError
from eie.formats import EIEMatrix
from eie.formats.benchmark_layers import random_codebook, random_codes
from eie.sim import HardwareConfig, simulate
from eie.sim.qformat import LayerFormat, choose, frac_bits_for

FMT = FixedPointFormat(act_frac_bits=8, weight_frac_bits=12)
ENGINES = ("core", "reference")


@pytest.mark.parametrize("engine", ENGINES)
def test_16_bit_accumulator_saturates_in_order(engine: str) -> None:
    # 1 PE, one row, columns c0, c1, c2 with weights +1, +1, -1 (codes 10, 10, 4 of the helper's
    # codebook) and x = 100 each. Products at the output's scale (>> 12): +25600 each.
    # 16 bits: 25600, then 51200 saturates to 32767, then 32767 - 25600 = 7167.
    # 64 bits: 25600 + 25600 - 25600 = 25600 (exact, narrowed at the end).
    codes = np.array([[10, 10, 4]], np.uint8)
    m = EIEMatrix.from_codes(codes, CODEBOOK, num_pes=1)
    x = np.full(3, 100.0, np.float32)
    narrow = simulate(m, x, config=HardwareConfig(num_pes=1, acc_bits=16), fmt=FMT,
                      engine=engine)  # type: ignore[arg-type]
    exact = simulate(m, x, config=HardwareConfig(num_pes=1), fmt=FMT, engine=engine)  # type: ignore[arg-type]
    assert narrow.output_q.tolist() == [7167]
    assert exact.output_q.tolist() == [25600]
    assert narrow.cycles == exact.cycles  # width changes values, not timing


@pytest.mark.parametrize("engine", ENGINES)
def test_narrow_accumulator_rounds_each_product(engine: str) -> None:
    # Products 0.75 x 1/256 (x_q = 1, w_q = 3072 at 12 fraction bits): 3072 >> 12 rounds to 1
    # (half up: 3072 >= 2048) at the output's scale; four of them give 4 (exact: 12288 >> 12
    # rounds to 3).
    m = matrix_from_pe_rows(1, 4, 1, {(0, j): [0] for j in range(4)}, code=3)  # 0.75
    x = np.full(4, 1 / 256, np.float32)
    narrow = simulate(m, x, config=HardwareConfig(num_pes=1, acc_bits=16), fmt=FMT,
                      engine=engine)  # type: ignore[arg-type]
    exact = simulate(m, x, config=HardwareConfig(num_pes=1), fmt=FMT, engine=engine)  # type: ignore[arg-type]
    assert (narrow.output_q.tolist(), exact.output_q.tolist()) == ([4], [3])


@pytest.mark.parametrize("acc_bits", [16, 24, 64])
@pytest.mark.parametrize("bias_column", [True, False])
def test_core_matches_reference_with_per_layer_formats(acc_bits: int, bias_column: bool) -> None:
    rng = np.random.default_rng(acc_bits + bias_column)
    m = EIEMatrix.from_codes(random_codes(37, 29, 0.3, rng), random_codebook() * 0.05, 4)
    x = np.where(rng.random(29) < 0.6, rng.normal(size=29) * 3, 0).astype(np.float32)
    bias = rng.normal(size=37).astype(np.float32) * 0.1
    cfg = HardwareConfig(num_pes=4, acc_bits=acc_bits, bias_column=bias_column, fifo_depth=2)
    core = simulate(m, x, bias, cfg, activation="relu", fmt="per_layer")
    ref = simulate(m, x, bias, cfg, activation="relu", fmt="per_layer", engine="reference")
    assert np.array_equal(core.output_q, ref.output_q)
    assert core.cycles == ref.cycles and core.actions == ref.actions
    assert isinstance(core.fmt, LayerFormat) and core.fmt.weight_frac_bits > 15
    assert core.sqnr_db is not None and core.sqnr_db > 30
    rec = core.to_json()
    assert rec["fixed_point"] == core.fmt.to_json() and rec["sqnr_db"] == core.sqnr_db


def test_sqnr_on_the_authors_fc8(fixture_dir) -> None:  # type: ignore[no-untyped-def]
    # Shared format: the codebook's fraction bits capped at 15 (its largest entry is ~0.06):
    # 66.2 dB. Per-layer formats give the codebook 19 bits: 83.9 dB. 16-bit destination
    # registers with per-product rounding: 61.9 dB.
    from eie.formats import eiesim

    m, bias, act = eiesim.load(fixture_dir)
    shared = simulate(m, act, bias, activation="relu")
    per_layer = simulate(m, act, bias, activation="relu", fmt="per_layer")
    acc16 = simulate(m, act, bias, HardwareConfig(acc_bits=16), activation="relu",
                     fmt="per_layer")
    assert shared.sqnr_db == pytest.approx(66.16, abs=0.05)
    assert per_layer.sqnr_db == pytest.approx(83.89, abs=0.05)
    assert acc16.sqnr_db == pytest.approx(61.86, abs=0.05)
    assert per_layer.fmt.to_json() == {"in_frac_bits": 11, "weight_frac_bits": 19,
                                       "out_frac_bits": 11}
    assert shared.cycles == per_layer.cycles == acc16.cycles


def test_model_chain_passes_each_output_format_on() -> None:
    rng = np.random.default_rng(0)
    layers = []
    from eie.formats.model import Layer, Model

    for rows, cols, scale in ((24, 16, 0.02), (8, 24, 3.0)):
        mm = EIEMatrix.from_codes(random_codes(rows, cols, 0.5, rng), random_codebook() * scale,
                                  4)
        layers.append(Layer(f"fc{len(layers)}", mm, rng.normal(size=rows).astype(np.float32),
                            "relu"))
    model = Model(tuple(layers))
    x = rng.random(16).astype(np.float32)
    r = simulate(model, x, config=HardwareConfig(num_pes=4), fmt="per_layer")
    f0, f1 = (lr.fmt for lr in r.layers)
    assert isinstance(f0, LayerFormat) and isinstance(f1, LayerFormat)
    assert f1.in_frac_bits == f0.out_frac_bits
    assert f0.weight_frac_bits > f1.weight_frac_bits  # 0.02-scaled codebook vs 3.0-scaled
    assert all(lr.sqnr_db is not None for lr in r.layers)


def test_format_choice_and_validation() -> None:
    assert frac_bits_for(0.06, 30) == 19 and frac_bits_for(40000.0) == 0
    f = choose(1.0, 0.5, 8.0)
    assert (f.in_frac_bits, f.weight_frac_bits, f.out_frac_bits) == (14, 15, 11)
    with pytest.raises(ConfigError, match="weight_frac_bits should be an integer in 0..30"):
        LayerFormat(8, 31, 8)
    with pytest.raises(ConfigError, match="acc_bits should be an integer >= 16"):
        HardwareConfig(acc_bits=8)
    with pytest.raises(Exception, match="per_layer"):
        simulate(EIEMatrix.from_codes([[1]], np.array([0, 1.0], np.float32), 1), np.ones(1),
                 config=HardwareConfig(num_pes=1), fmt="per-row")
