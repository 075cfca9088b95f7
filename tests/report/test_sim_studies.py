"""The simulator studies' command line and tables: ``python -m eie.cli.sim_studies``."""

from __future__ import annotations

from pathlib import Path

import pytest

from eie.cli.sim_studies import main
from eie.report.sim_studies import llm_scale_table


def test_structured_command_prints_the_table_and_writes_the_figure(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    png = tmp_path / "s.png"
    assert main(["structured", "--size", "256", "--plot", str(png)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["pattern", "load", "eff"]
    assert sorted(ln.split()[0] for ln in lines[1:6]) == ["balanced", "block", "block-csc",
                                                           "n:m", "unstructured"]
    assert lines[-1] == f"wrote {png}" and png.stat().st_size > 1000


def test_llm_scale_table_columns() -> None:
    rec = {"layer": "smollm2.q_proj", "density": 0.1, "fits_on_chip": True,
           "memory_bound": False, "resident_latency_us": 1.25, "streamed_latency_us": 1.25,
           "resident_energy_uj": 0.5, "streamed_energy_uj": 0.5}
    assert llm_scale_table([rec]).splitlines()[1].split() == [
        "smollm2.q_proj", "0.10", "True", "compute", "1.2", "1.2", "0.50", "0.50"]


@pytest.mark.parametrize("argv, message", [
    (["llm-scale", "--densities", "1.0,x"], "llm-scale: error: --densities should be"),
    (["llm-scale", "--densities", "0"], "llm-scale: error: --densities should be"),
    (["structured", "--plot", "/nonexistent/d/s.png"], "structured: error: --plot"),
])
def test_bad_arguments_are_one_line(argv: list[str], message: str,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1
