"""Hostile simulator inputs: configs whose implied sizes are absurd, NaN and infinity in the
activations, the bias, the codebook or a layer's float output. Each is refused with a typed
error naming what was wrong, before any memory is allocated for it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from eie.cli.main import main
from eie.errors import ConfigError, EngineError
from eie.formats import EIEMatrix
from eie.sim import HardwareConfig, load_config, simulate
from eie.sim.config import BOUNDS, MAX_BATCH_COLS, MAX_FIFO_SLOTS


@pytest.mark.parametrize(("changes", "match"), [
    ({"fifo_depth": 10**9}, "fifo_depth should be at most 65536, found 1000000000"),
    ({"num_pes": 1 << 20}, "num_pes should be at most 4096"),
    ({"act_regfile_entries": 1 << 40}, "act_regfile_entries should be at most"),
    ({"spmat_sram_width_bits": 1 << 30}, "spmat_sram_width_bits should be at most 4096"),
    ({"arith_pipeline_stages": 10**6}, "arith_pipeline_stages should be at most 64"),
    ({"lnzd_group_bubble": -1}, "lnzd_group_bubble should be an integer >= 0"),
    ({"clock_mhz": float("inf")}, "clock_mhz should be a finite number"),
    ({"clock_mhz": float("nan")}, "clock_mhz should be a finite number"),
    ({"bias_column": "yes"}, "bias_column should be true or false"),
    # Each field within bounds, the product not: FIFO storage and input batches.
    ({"num_pes": 4096, "fifo_depth": 8192}, r"num_pes x fifo_depth \(FIFO slots\) should be at "
                                            r"most 16777216, found 33554432"),
    ({"num_pes": 4096, "act_regfile_entries": 65536}, "batch_cols"),
])
def test_sizes_beyond_the_documented_maxima_are_refused(changes: dict[str, object],
                                                         match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        HardwareConfig(**changes)  # type: ignore[arg-type]


def test_every_numeric_field_has_bounds_and_the_maxima_are_accepted() -> None:
    import dataclasses

    numeric = {f.name for f in dataclasses.fields(HardwareConfig)} - {
        "arith_bypass", "bias_column", "stream_pointers"}
    assert set(BOUNDS) == numeric
    HardwareConfig(num_pes=4096, fifo_depth=MAX_FIFO_SLOTS // 4096)
    HardwareConfig(num_pes=1024, act_regfile_entries=MAX_BATCH_COLS // 1024)
    HardwareConfig(fifo_depth=65536, lnzd_group_bubble=0)


def test_hostile_yaml_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "hw.yaml"
    p.write_text("fifo_depth: 100000000000\n")
    with pytest.raises(ConfigError, match="fifo_depth should be at most"):
        load_config(p)


def _layer() -> EIEMatrix:
    return EIEMatrix.from_codes([[1, 0], [0, 2]], np.array([0, 0.5, -1], np.float32), num_pes=2)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_bias_is_refused(bad: float) -> None:
    with pytest.raises(EngineError, match=r"the bias of layer 'layer' should be finite numbers, "
                                          r"found .* at index 1"):
        simulate(_layer(), np.ones(2), np.array([0.5, bad], np.float32),
                 HardwareConfig(num_pes=2))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_activations_are_refused(bad: float) -> None:
    with pytest.raises(EngineError, match="the input activations x should be finite numbers"):
        simulate(_layer(), np.array([1.0, bad]), config=HardwareConfig(num_pes=2))


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_float_overflow_in_a_layer_is_refused() -> None:
    # Finite codebook and input whose product overflows float32: the format cannot be chosen.
    m = EIEMatrix.from_codes([[1, 0], [0, 2]], np.array([0, 3e38, -3e38], np.float32), num_pes=2)
    with pytest.raises(EngineError, match="layer 0's float output .* should be finite"):
        simulate(m, np.array([10.0, 10.0]), config=HardwareConfig(num_pes=2))


def test_non_finite_codebook_in_a_folder_is_refused(fixture_dir: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    d = tmp_path / "fc8"
    shutil.copytree(fixture_dir, d)
    cb = np.fromfile(d / "arithm.dat", "<f4")
    cb[3] = np.nan
    cb.tofile(d / "arithm.dat")
    assert main(["simulate", str(d), "--json"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "codebook" in err[0] and "NaN" in err[0]


def test_core_refuses_arrays_that_would_read_out_of_bounds() -> None:
    # The compiled loop, called with arrays no EIEMatrix would accept: pointers out of order,
    # and an entry whose relative index decodes past the PE's rows.
    from eie import _core
    from eie.sim.pe import ACTIONS, GLOBALS, PE_COUNTERS

    def call(codes: list[int], rel: list[int], col_ptr: list[list[int]], rows: int) -> None:
        n, cols = len(col_ptr), len(col_ptr[0]) - 1
        pe_offset = np.concatenate(([0], np.cumsum([p[-1] for p in col_ptr]))).astype(np.int64)
        entries = _core.SimEntries(np.array(codes, np.uint8), np.array(rel, np.uint8),
                                   pe_offset, np.array(col_ptr, np.int64), rows, cols)
        params = _core.SimParams()
        params.fifo_depth = 2
        out = _core.SimOutputs(np.zeros(rows, np.int64),
                               np.zeros((n, len(PE_COUNTERS)), np.int64), np.zeros(3, np.int64),
                               np.zeros(len(ACTIONS), np.int64), np.zeros(len(GLOBALS), np.int64))
        _core.sim_layer(entries, np.ones(cols, np.int16), np.zeros(4, np.int16),
                        np.zeros(0, np.int64), params, out)
        y = np.zeros(rows, np.float64)
        _core.sim_float_layer(entries, np.ones(cols, np.float64), np.zeros(4, np.float64), y)

    call([1, 2], [0, 0], [[0, 1, 2]], 2)  # consistent: 2 rows, one entry per column
    with pytest.raises(ValueError, match="decodes to local row 5 but the PE holds 2 rows"):
        call([1, 2], [0, 5], [[0, 1, 2]], 2)
    with pytest.raises(ValueError, match="non-decreasing"):
        call([1, 2], [0, 0], [[0, 2, 1, 2]], 2)
    with pytest.raises(ValueError, match="run from 0"):
        call([1, 2], [0, 0], [[0, 1, 3]], 2)
