"""The user's own data: .npz files, data functions (datasets, loaders, tensors), metrics,
one-shot mode; every bad input is refused with one line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from eie.cli.main import main
from eie.compress.userdata import load_data, load_npz
from eie.errors import ConfigError

MODULE = """
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

def _blobs(n, seed):
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(3, 2, 6, generator=torch.Generator().manual_seed(7)) * 2
    y = torch.randint(0, 3, (n,), generator=g)
    return centers[y] + torch.randn(n, 2, 6, generator=g), y

class Net(nn.Module):  # inputs (N, 2, 6): not a flat vector
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(12, 16)
        self.fc2 = nn.Linear(16, 3)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x.flatten(1))))

def datasets():
    return TensorDataset(*_blobs(300, 0)), TensorDataset(*_blobs(150, 1))

def loaders():
    tr, va = datasets()
    return {"train": DataLoader(tr, batch_size=32, shuffle=False), "val": DataLoader(va, 64)}

def calibration_only():
    return None, _blobs(150, 1)

def neg_loss(outputs, targets):
    return -float(torch.nn.functional.cross_entropy(outputs, targets))
"""

RECIPE = """\
name: user
stages:
  - {kind: prune, sparsity: 0.5, rounds: 1, epochs: 1, lr: 0.01}
  - {kind: quantize, bits: 3, epochs: 1}
"""


@pytest.fixture()
def user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "userpkg.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("userpkg", None)
    import userpkg  # type: ignore[import-not-found]

    torch.manual_seed(0)
    net = userpkg.Net()
    x, y = userpkg._blobs(300, 0)
    from eie.compress.train import train_epochs

    train_epochs(net, x, y, 5, 1e-2)
    torch.save(net.state_dict(), tmp_path / "net.pt")
    xv, yv = userpkg._blobs(150, 1)
    np.savez(tmp_path / "d.npz", x_train=x.numpy(), y_train=y.numpy(), x_val=xv.numpy(),
             y_val=yv.numpy())
    (tmp_path / "r.yaml").write_text(RECIPE)
    return tmp_path


def _compress(user: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> dict:
    capsys.readouterr()
    rc = main(["compress", str(user / "net.pt"), "--arch", "userpkg:Net", "--recipe",
               str(user / "r.yaml"), "-o", str(user / "n.eie"), "--json", "--no-progress",
               *extra])
    assert rc == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def test_npz_dataset_and_loader_data_agree(user: Path, capsys: pytest.CaptureFixture[str]
                                           ) -> None:
    a = _compress(user, capsys, "--data", str(user / "d.npz"))
    assert a["accuracy_reference"] > 0.9 and a["accuracy_compressed"] > 0.85
    assert a["density"] == pytest.approx(0.5, abs=0.01)  # sparsity 0.5
    b = _compress(user, capsys, "--data", "userpkg:datasets")
    c = _compress(user, capsys, "--data", "userpkg:loaders")
    assert b["accuracy_reference"] == a["accuracy_reference"] == c["accuracy_reference"]
    for j in (b, c):
        assert j["accuracy_compressed"] > 0.85


def test_metric_and_one_shot(user: Path, capsys: pytest.CaptureFixture[str]) -> None:
    m = _compress(user, capsys, "--data", str(user / "d.npz"), "--metric", "userpkg:neg_loss")
    assert m["metric"] == "userpkg:neg_loss" and m["accuracy_reference"] < 0
    one = _compress(user, capsys, "--data", "userpkg:calibration_only", "--one-shot")
    assert one["one_shot"] and one["recipe"]["stages"][0]["epochs"] == 0
    assert one["recipe"]["stages"][1]["epochs"] == 0
    assert one["accuracy_compressed"] > 0.5  # pruned by half and quantized, nothing retrained
    # The summary names the metric and headlines no Huffman ratio for a recipe without Huffman.
    assert main(["compress", str(user / "net.pt"), "--arch", "userpkg:Net", "--recipe",
                 str(user / "r.yaml"), "--data", "userpkg:calibration_only", "--one-shot",
                 "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "(no Huffman stage)" in text and "with Huffman" not in text and "one-shot" in text
    # Without --one-shot, a data function that gives no training set is refused.
    assert main(["compress", str(user / "net.pt"), "--arch", "userpkg:Net", "--data",
                 "userpkg:calibration_only", "--no-progress"]) == 2
    assert "--one-shot" in capsys.readouterr().err


def test_bad_npz_files_are_refused(tmp_path: Path) -> None:
    x = np.zeros((4, 3), np.float32)
    y = np.zeros(4, np.int64)
    np.savez(tmp_path / "missing.npz", x_train=x, y_train=y)
    with pytest.raises(ConfigError, match=r"missing arrays \['x_val', 'y_val'\]"):
        load_npz(tmp_path / "missing.npz")
    np.savez(tmp_path / "labels.npz", x_train=x, y_train=y.astype(np.float32), x_val=x, y_val=y)
    with pytest.raises(ConfigError, match="y_train should be integer class labels"):
        load_npz(tmp_path / "labels.npz")
    bad = x.copy()
    bad[0, 0] = np.nan
    np.savez(tmp_path / "nan.npz", x_train=bad, y_train=y, x_val=x, y_val=y)
    with pytest.raises(ConfigError, match="NaN"):
        load_npz(tmp_path / "nan.npz")
    np.savez(tmp_path / "shape.npz", x_train=x, y_train=y, x_val=np.zeros((4, 5), np.float32),
             y_val=y)
    with pytest.raises(ConfigError, match=r"x_train samples are \(3,\) but x_val"):
        load_npz(tmp_path / "shape.npz")
    np.savez(tmp_path / "val.npz", x_val=x, y_val=y)  # one-shot: calibration data only
    d = load_npz(tmp_path / "val.npz", one_shot=True)
    assert d.train is None and tuple(d.val[0].shape) == (4, 3)
    with pytest.raises(ConfigError, match="or only x_val/y_val with --one-shot"):
        load_npz(tmp_path / "val.npz")
    with pytest.raises(ConfigError, match="no such data file"):
        load_data(str(tmp_path / "nope.npz"))
    with pytest.raises(ConfigError, match="cannot import data function"):
        load_data("no_such_module_xyz:fn")
