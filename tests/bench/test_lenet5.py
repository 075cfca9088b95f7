"""The LeNet-5 benchmark runs, checks eie against torch first, and reports its ratios."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import eie
from eie.bench.lenet5 import run
from eie.compress.export import to_eie_model
from eie.compress.models import LeNet5, compressible_layers
from eie.compress.share import apply_shared, share_weights
from eie.report.bench_tables import lenet5_line


def test_bench_lenet5_small_budget(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = LeNet5().eval()
    shared = {n: share_weights(m.weight, m.weight.abs() > m.weight.abs().quantile(0.9), 5)
              for n, m in compressible_layers(model)}
    apply_shared(model, shared)
    path = tmp_path / "l5.eie"
    eie.save(path, to_eie_model(model, shared))
    r = run(str(path), threads=1, budget_s=0.3)
    assert set(r["per_image_wall_us"]) == {"eie", "eie_direct", "torch_fp32"}
    assert all(v > 0 for v in r["per_image_cpu_us"].values())
    assert r["memory_floor_us"] > 0 and r["eie_over_floor"] > 1
    assert "torch_fp32/eie" in lenet5_line(r)


def test_command_line_refuses_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                        ) -> None:
    from eie.cli.bench_scripts import main

    assert main(["lenet5", str(tmp_path / "missing.eie"), "--budget", "0"]) == 2
    assert "--budget should be positive" in capsys.readouterr().err
    bad = tmp_path / "bad.eie"
    bad.write_bytes(b"not an eie file")
    assert main(["lenet5", str(bad), "--threads", "1", "--budget", "0.1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lenet5: error: ") and err.count("\n") == 1
