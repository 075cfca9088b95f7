"""``python -m eie.cli.bench_scripts goals --quick`` (also ``python -m eie.engine.bench_goals``):
every goal case runs, agrees with numpy and prints a row with eie's time and its peers'."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from eie.bench import goals as bench_goals
from eie.cli.bench_scripts import main
from eie.report import bench_tables


def test_goal_tables_quick(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["goals", "--quick", "--parts", "goals,overheads,encoder"]) == 0
    out = capsys.readouterr().out
    rows = [ln for ln in out.splitlines() if ln.startswith("| ") and " vs " in ln]
    names = {ln.split(" | ")[0][2:] for ln in rows}
    assert {"alex6 b1", "alex6 b8", "nt_wd b1", "dense 4-bit 4096x4096 b1",
            "per-row cb 4096x4096 b1", "SmolLM2 576x1536 per-row b8, bf16 in",
            "dense 4-bit 4096x4096 b8, precision bf16"} <= names
    assert len(rows) == len(names)  # each row once
    assert all("torch_" in ln for ln in rows)
    assert "| EIELinear |" in out and "| spmv |" in out
    assert "from_codes Mw/s" in out


def test_cases_filter(capsys: pytest.CaptureFixture[str]) -> None:
    """--cases keeps the goal cases whose names contain one of its ';'-separated parts."""
    assert main(["goals", "--quick", "--parts", "goals", "--cases", "precision bf16;nt_wd"]) == 0
    rows = [ln for ln in capsys.readouterr().out.splitlines() if " vs " in ln]
    names = {ln.split(" | ")[0][2:] for ln in rows}
    assert names == {"nt_wd b1", "nt_wd b1, precision int8", *(f"{c} b8, precision bf16" for c in (
        "dense 4-bit 4096x4096", "dense 4-bit 11008x4096", "per-row cb 4096x4096",
        "per-row cb 11008x4096"))}


def test_rows_are_records_the_report_lays_out() -> None:
    """The library yields typed rows (no printing); the best peer is the one with the least
    CPU time, and the ratio is its time over eie's."""
    rows = list(bench_goals.run_goals(1, True, 0.0, 0, "nt_wd"))
    assert [r.name for r in rows] == ["nt_wd b1", "nt_wd b1, precision int8"]
    from eie.engine import kernels

    # int8 moves a layer the automatic choice lays out dense (nt_wd on AVX-512; on AVX2 this
    # CPU's tuning lays its 11% of weights out sparse, which keeps its fp32 kernels)
    moved = kernels.int8_runs() and rows[0].layout == "dense"
    assert rows[1].layout == ("rowwise (int8)" if moved else rows[0].layout)
    r = rows[0]
    assert set(r.wall_us) == set(r.cpu_us) == {"eie", "torch_csr_int32"}
    assert all(v > 0 for v in (*r.wall_us.values(), *r.cpu_us.values()))
    row = bench_goals.GoalRow("x", "sparse", {"eie": 10.0, "a": 30.0, "b": 20.0},
                              {"eie": 5.0, "a": 40.0, "b": 10.0})
    assert bench_tables.goal_row(row) == ("| x | sparse | 10 (5) | a 30 (40), b 20 (10) | "
                                          "2.00 (2.00) vs b |")
    enc = list(bench_goals.run_encoder(True))
    assert [(e.rows, e.cols) for e in enc] == [(512, 1152), (512, 512), (1376, 512)]
    assert all(np.isfinite(e.from_codes_mwps) and e.from_codes_mwps > 0 for e in enc)


def test_module_command_and_bad_parts() -> None:
    """The module's own command line is the same one; a wrong --parts is one line, exit 2."""
    r = subprocess.run([sys.executable, "-m", "eie.engine.bench_goals", "--quick", "--parts",
                        "goals,bogus"], capture_output=True, text=True)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip().splitlines() == [
        "goals: error: --parts should name goals, sweep, overheads, encoder, threads, found "
        "'goals,bogus'"]


def test_stream_bench_rows_and_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    from eie.bench import stream

    rows = stream.run(blocks=1, rounds=2, reps=1)
    assert [r.name for r in rows] == ["fp32", "int8", "sequential read (numpy)"]
    assert all(len(r.rounds) == 2 and r.ms == min(r.rounds) and r.gb_s > 0 for r in rows)
    assert main(["stream", "--blocks", "1", "--rounds", "1"]) == 0
    out = capsys.readouterr().out
    assert "| int8 |" in out and "sequential read" in out
    assert main(["stream", "--blocks", "0"]) == 2
    assert main(["stream", "--precisions", "int4"]) == 2
