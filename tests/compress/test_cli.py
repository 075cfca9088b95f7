"""``eie compress`` and ``eie sensitivity`` on a user's checkpoint (in-process)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import eie
from eie.cli.main import main
from eie.compress.data import mnist_split
from eie.engine.reference import spmv

ARCH_SRC = """
import torch
from torch import nn

class Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x.reshape(x.shape[0], -1))))
"""

RECIPE = """\
name: small
index_bits: 4
stages:
  - {kind: prune, density: 0.2, rounds: 1, epochs: 1, layers: {fc2: {density: 0.5}}}
  - {kind: quantize, bits: 4, epochs: 1}
  - {kind: huffman}
"""


@pytest.fixture()
def checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "small_arch.py").write_text(ARCH_SRC)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("small_arch", None)
    import small_arch  # type: ignore[import-not-found]

    torch.manual_seed(0)
    model = small_arch.Small()
    d = mnist_split()
    from eie.compress.train import train_epochs

    train_epochs(model, d.x_train, d.y_train, 2, 1e-3)
    path = tmp_path / "small.pt"
    torch.save(model.state_dict(), path)
    return path


def test_compress_checkpoint_json(checkpoint: Path, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "r.yaml").write_text(RECIPE)
    out = tmp_path / "small.eie"
    rc = main(["compress", str(checkpoint), "--arch", "small_arch:Small", "--data", "mnist",
               "--recipe", str(tmp_path / "r.yaml"), "-o", str(out), "--json", "--no-progress"])
    assert rc == 0
    j = json.loads(capsys.readouterr().out)
    for key in ("compression_ratio", "compression_ratio_no_huffman", "accuracy_reference",
                "accuracy_compressed", "density", "layers"):
        assert key in j
    assert [layer["name"] for layer in j["layers"]] == ["fc1", "fc2"]
    assert j["density"] == pytest.approx((0.2 * 25088 + 0.5 * 320) / 25408, abs=1e-3)
    assert j["compression_ratio"] > j["compression_ratio_no_huffman"] > 1
    assert j["accuracy_compressed"] > 0.8
    model = eie.load(out)
    assert model.metadata["accuracy_compressed"] == j["accuracy_compressed"]
    # The saved model classifies the test images as well as the JSON says.
    d = mnist_split()
    correct = 0
    for i in range(200):
        h = d.x_test[i].numpy()
        for layer in model.layers:
            h = spmv(layer.matrix, h, layer.bias, layer.activation)
        correct += int(np.argmax(h) == int(d.y_test[i]))
    assert correct / 200 == pytest.approx(j["accuracy_compressed"], abs=0.06)


def test_compress_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compress", str(tmp_path / "x.pt"), "--no-progress"]) == 2
    assert "--arch" in capsys.readouterr().err
    assert main(["compress", str(tmp_path / "x.pt"), "--arch", "a:B", "--no-progress"]) == 2
    assert "needs its data: pass --data" in capsys.readouterr().err
    (tmp_path / "bad.yaml").write_text("stages: [{kind: prune, densty: 0.1}]\n")
    assert main(["compress", "lenet300", "--recipe", str(tmp_path / "bad.yaml"),
                 "--no-progress"]) == 2
    assert "densty" in capsys.readouterr().err


def test_sensitivity_json_and_plot(checkpoint: Path, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    plot = tmp_path / "s.png"
    rc = main(["sensitivity", str(checkpoint), "--arch", "small_arch:Small", "--densities",
               "1,0.3,0.02", "--plot", str(plot), "--json", "--no-progress"])
    assert rc == 0
    j = json.loads(capsys.readouterr().out)
    assert plot.is_file() and plot.stat().st_size > 1000
    curve = j["layers"]["fc1"]
    assert [p["density"] for p in curve] == [1.0, 0.3, 0.02]
    assert curve[0]["accuracy"] == pytest.approx(j["reference_accuracy"])
    assert curve[2]["accuracy"] < curve[0]["accuracy"]  # 2% of fc1 hurts
    assert set(j["suggested_densities"]) == {"fc1", "fc2"}
    rc = main(["sensitivity", str(checkpoint), "--arch", "small_arch:Small", "--densities",
               "1,0.5", "--plot", str(plot), "--no-progress"])
    assert rc == 0 and "suggested" in capsys.readouterr().out
