"""The k-means timing runs every algorithm through the harness and its command line prints them."""

from __future__ import annotations

import pytest

from eie.bench.kmeans import time_kmeans
from eie.cli.bench_scripts import main
from eie.compress.kmeans import INITS, kmeans_exact, synthetic_weights
from eie.report.bench_tables import kmeans_lines


def test_time_kmeans_records() -> None:
    recs = time_kmeans(3000, 5, exact=True, rounds=1)
    assert [r.init for r in recs] == [*INITS, None]
    assert all(r.wall_s > 0 and r.n == 3000 and r.k == 5 for r in recs)
    exact = recs[-1]
    assert exact.algorithm == "exact" and exact.iterations is None
    assert exact.sse == pytest.approx(kmeans_exact(synthetic_weights(3000), 5).sse)
    assert all(r.sse >= exact.sse * (1 - 1e-9) for r in recs)  # nothing beats the optimum
    assert "exact  (DP)" in kmeans_lines(recs)


def test_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["kmeans", "--n", "2000", "--k", "4", "--rounds", "1"]) == 0
    assert capsys.readouterr().out.count("lloyd") == len(INITS)
    assert main(["kmeans", "--n", "0"]) == 2
    assert "should be >= 1" in capsys.readouterr().err


def test_deep_compression_command_refuses_a_missing_json_folder(
        tmp_path: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["deep-compression", "lenet300", "--seeds", "0", "--json",
                 str(tmp_path / "no" / "such" / "dir" / "r.json")]) == 2  # type: ignore[operator]
    assert "its folder should exist" in capsys.readouterr().err
