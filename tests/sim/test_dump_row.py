"""The EIE authors' dumps beside their synthetic twins (``eie paper --dump``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from eie.cli.main import main
from eie.experiments.paper import PaperOptions, beyond_the_paper
from eie.sim import real_layers


def test_the_authors_fc8_is_less_even_than_its_twin(fixture_dir: Path) -> None:
    r = real_layers.dump_row(fixture_dir)
    assert r["layer"] == fixture_dir.name and r["shape"] == [1000, 4096]
    # The authors' fc8: max/mean PE work 1.097 (docs/simulator.md); a uniform twin ~1.06.
    assert r["real_pe_imbalance"] == pytest.approx(1.097, abs=0.002)
    assert r["synthetic_pe_imbalance"] < r["real_pe_imbalance"] - 0.02
    assert r["real_cycles"] > r["synthetic_cycles"]
    assert r["real_sqnr_db"] > 50


def test_paper_reports_dumps_beside_the_real_layers(fixture_dir: Path) -> None:
    out = beyond_the_paper(PaperOptions(quick=True, dumps=(str(fixture_dir),)))
    names = [r["layer"] for r in out["real_layers"]]
    assert names[-1] == fixture_dir.name
    if real_layers.available():
        assert names[:-1] == list(real_layers.MINILM)


def test_paper_refuses_a_bad_dump_before_any_work(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["paper", "--quick", "--out", str(out), "--dump", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not a folder" in err
    assert not (out / "report.json").exists()
