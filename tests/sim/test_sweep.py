"""Sweeps: grid, resumable JSONL, parallel workers, plots; the paper's trends on one layer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eie.errors import ConfigError
from eie.report.sim_figures import paper_figures, plot_figure
from eie.sim import HardwareConfig
from eie.sim.sweep import grid, point_config, read_results, sweep


def test_grid_and_point_config() -> None:
    assert grid({"a": [1, 2], "b": ["x"]}) == [{"a": 1, "b": "x"}, {"a": 2, "b": "x"}]
    assert grid({}) == [{}]
    with pytest.raises(ConfigError):
        grid({"a": []})
    c = point_config(HardwareConfig(), {"weight_bits": 6})
    assert (c.weight_bits, c.codebook_entries) == (6, 64)
    with pytest.raises(ConfigError):
        point_config(HardwareConfig(), {"num_pes": 0})


def test_sweep_resumes_without_recomputing(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    axes = {"fifo_depth": [1, 4]}
    base = HardwareConfig(num_pes=8)
    seen: list[int] = []
    recs = sweep(axes, ["nt_lstm"], out, base=base, workers=1,
                 progress=lambda d, t, r: seen.append(d))
    assert seen == [1, 2] and len(recs) == 2
    assert [r["config"]["fifo_depth"] for r in recs] == [1, 4]
    # Simulate an interruption: keep the first record, tear the second line.
    lines = out.read_text().splitlines()
    out.write_text(lines[0] + "\n" + lines[1][:40])
    assert len(read_results(out)) == 1
    seen.clear()
    again = sweep(axes, ["nt_lstm"], out, base=base, workers=1,
                  progress=lambda d, t, r: seen.append(d))
    assert seen == [2]  # only the missing point ran
    assert [r["cycles"] for r in again] == [r["cycles"] for r in recs]
    # Nothing left to do: no progress calls, same records.
    seen.clear()
    assert [r["key"] for r in sweep(axes, ["nt_lstm"], out, base=base, workers=1,
                                    progress=lambda d, t, r: seen.append(d))] == \
        [r["key"] for r in recs]
    assert seen == []
    # A different base config is a different point.
    other = sweep(axes, ["nt_lstm"], out, base=base.replace(clock_mhz=400), workers=1)
    assert [r["latency_us"] for r in other] == [r["cycles"] / 400 for r in other]


def test_parallel_sweep_matches_serial_and_paper_trends(tmp_path: Path) -> None:
    axes = {"num_pes": [4, 16, 64]}
    par = sweep(axes, ["nt_lstm"], tmp_path / "p.jsonl", workers=2)
    ser = sweep(axes, ["nt_lstm"], tmp_path / "s.jsonl", workers=1)
    assert [r["cycles"] for r in par] == [r["cycles"] for r in ser]
    cycles = [r["cycles"] for r in ser]
    assert cycles[0] > cycles[1] > cycles[2]  # more PEs, fewer cycles
    assert cycles[0] / cycles[2] > 8  # 16x the PEs: a large speedup
    assert [json.loads(line)["layer"] for line in (tmp_path / "p.jsonl").read_text()
            .splitlines()] == ["nt_lstm"] * 3


def test_fifo_depth_trend_and_plots(tmp_path: Path) -> None:
    recs = sweep({"fifo_depth": [1, 8, 64]}, ["alex8"], tmp_path / "f.jsonl",
                 base=HardwareConfig(num_pes=16), workers=1)
    le = [r["load_efficiency"] for r in recs]
    assert le[0] < le[1] <= le[2] + 1e-9
    assert recs[0]["ccu_stall_cycles"] > recs[2]["ccu_stall_cycles"]
    paths = paper_figures(recs, tmp_path / "plots")
    assert [p.name for p in paths] == ["load_efficiency_vs_fifo.png"]
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not plot_figure(recs, "speedup_vs_pes", tmp_path / "none.png")
    assert not (tmp_path / "none.png").exists()


def test_shared_point_reported_with_this_sweeps_overrides(tmp_path: Path) -> None:
    out = tmp_path / "o.jsonl"
    base = HardwareConfig(num_pes=8)
    sweep({"num_pes": [4, 8]}, ["nt_lstm"], out, base=base, workers=1)
    recs = sweep({"fifo_depth": [2, 8]}, ["nt_lstm"], out, base=base, workers=1)
    assert [r["overrides"] for r in recs] == [{"fifo_depth": 2}, {"fifo_depth": 8}]
    assert len(out.read_text().splitlines()) == 3  # (8 PEs, FIFO 8) ran once


def test_codebook_bits_sweep(tmp_path: Path) -> None:
    recs = sweep({"weight_bits": [2, 4, 8]}, ["nt_lstm"], tmp_path / "c.jsonl",
                 base=HardwareConfig(num_pes=16), workers=1)
    assert [r["config"]["codebook_entries"] for r in recs] == [4, 16, 256]
    # Wider entries (8-bit codes + 4-bit indices = 12 bits): 5 per 64-bit line instead of 10/8.
    lines = [r["actions"]["spmat_sram.read_line"] for r in recs]
    assert lines[0] < lines[1] < lines[2]
    assert paper_figures(recs, tmp_path / "p")[0].name == "energy_vs_codebook_bits.png"


def test_codebook_larger_than_hardware_raises() -> None:
    from eie.formats.benchmark_layers import make_layer
    from eie.sim import simulate

    m, x = make_layer("nt_lstm", num_pes=16, seed=0)  # 16-entry codebook
    with pytest.raises(ConfigError, match="codebook"):
        simulate(m, x, config=HardwareConfig(num_pes=16, weight_bits=3, codebook_entries=8))
