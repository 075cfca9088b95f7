"""``python -m eie.engine.bench_goals --quick``: every goal case runs, agrees with numpy and
prints a row with eie's time and its peers'."""

from __future__ import annotations

import pytest

from eie.engine import bench_goals


def test_goal_tables_quick(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_goals.main(["--quick", "--parts", "goals,overheads,encoder"]) == 0
    out = capsys.readouterr().out
    rows = [ln for ln in out.splitlines() if ln.startswith("| ") and " vs " in ln]
    names = {ln.split(" | ")[0][2:] for ln in rows}
    assert {"alex6 b1", "alex6 b8", "nt_wd b1", "dense 4-bit 4096x4096 b1",
            "per-row cb 4096x4096 b1", "SmolLM2 576x1536 per-row b8, bf16 in",
            "dense 4-bit 4096x4096 b8, precision bf16"} <= names
    assert all("torch_" in ln for ln in rows)
    assert "| EIELinear |" in out and "| spmv |" in out
    assert "from_codes Mw/s" in out


def test_cases_filter(capsys: pytest.CaptureFixture[str]) -> None:
    """--cases keeps the goal cases whose names contain one of its ';'-separated parts."""
    assert bench_goals.main(["--quick", "--parts", "goals",
                             "--cases", "precision bf16;nt_wd"]) == 0
    rows = [ln for ln in capsys.readouterr().out.splitlines() if " vs " in ln]
    names = {ln.split(" | ")[0][2:] for ln in rows}  # each row is printed, then the table
    assert names == {"nt_wd b1", *(f"{c} b8, precision bf16" for c in (
        "dense 4-bit 4096x4096", "dense 4-bit 11008x4096", "per-row cb 4096x4096",
        "per-row cb 11008x4096"))}
