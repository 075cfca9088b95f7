"""Sensitivity scan: one layer pruned at a time, others untouched; picking densities."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from eie.compress.sensitivity import SensitivityResult, pick_densities, scan
from eie.errors import ConfigError
from eie.report.sensitivity import plot_sensitivity


def test_scan_prunes_one_layer_at_a_time() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))
    seen: list[tuple[float, float]] = []

    def eval_fn(m: nn.Module) -> float:
        # "accuracy" = fraction of nonzero weights in both layers, so the scan is observable
        a, b = (float((m[i].weight != 0).float().mean()) for i in (0, 2))
        seen.append((a, b))
        return (a + b) / 2

    r = scan(model, eval_fn, densities=(1.0, 0.4))
    assert r.reference_accuracy == 1.0
    assert r.curves["0"] == [(1.0, 1.0), (0.4, pytest.approx((0.4 + 1.0) / 2))]
    assert r.curves["2"] == [(1.0, 1.0), (0.4, pytest.approx((0.4 + 1.0) / 2, abs=0.01))]
    assert seen[2] == (pytest.approx(0.4), 1.0)  # layer 0 pruned, layer 2 dense
    assert seen[4][0] == 1.0  # layer 0 restored before layer 2 is scanned
    assert torch.all(model[0].weight != 0)  # the caller's model is untouched
    with pytest.raises(ConfigError, match="unknown layers"):
        scan(model, eval_fn, layers=["fc9"])
    with pytest.raises(ConfigError, match="densities"):
        scan(model, eval_fn, densities=(0.0,))


def test_pick_densities_golden(tmp_path: Path) -> None:
    r = SensitivityResult(0.95, {"fc1": [(1.0, 0.95), (0.1, 0.948), (0.05, 0.93)],
                                 "fc2": [(1.0, 0.95), (0.5, 0.90)]})
    assert pick_densities(r, 0.005) == {"fc1": 0.1, "fc2": 1.0}
    assert pick_densities(r, 0.05) == {"fc1": 0.05, "fc2": 0.5}
    out = plot_sensitivity(r, tmp_path / "s.png")
    assert out.read_bytes()[:4] == b"\x89PNG"
