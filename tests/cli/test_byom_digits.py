"""The README's bring-your-own-model example end to end through the CLI: a small CNN on
scikit-learn's 8x8 digits from a .npz: compress, inspect, run, simulate, then swap in torch."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import eie
from eie.cli.main import main
from eie.engine import Engine
from eie.engine.torch import swap

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "digits"


@pytest.fixture()
def digits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    torch.set_num_threads(1)
    monkeypatch.setenv("EIE_NUM_THREADS", "1")
    monkeypatch.setenv("EIE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.syspath_prepend(str(EXAMPLE))
    sys.modules.pop("digits_cnn", None)
    import digits_cnn  # type: ignore[import-not-found]

    digits_cnn.train(digits_cnn.make_data(tmp_path), tmp_path)
    return tmp_path


def test_digits_cnn_through_the_cli(digits: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = digits / "digits.eie"
    rc = main(["compress", str(digits / "digits_cnn.pt"), "--arch", "digits_cnn:DigitsCNN",
               "--data", str(digits / "digits.npz"), "--recipe", str(EXAMPLE / "recipe.yaml"),
               "-o", str(out), "--json", "--no-progress"])
    assert rc == 0
    j = json.loads(capsys.readouterr().out)
    assert j["accuracy_reference"] > 0.85
    assert j["accuracy_compressed"] > j["accuracy_reference"] - 0.03
    assert j["compression_ratio"] > 3

    assert main(["inspect", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert [(L["name"], L["kind"], L["activation"]) for L in info["layers"]] == [
        ("conv1", "conv2d", "relu"), ("conv2", "conv2d", "relu"), ("fc", "linear", None)]
    assert info["graph"] == {"chain": True, "traced": True, "input_shape": [1, 8, 8]}

    f = np.load(digits / "digits.npz")
    x, y = f["x_val"][:64], f["y_val"][:64]
    np.save(digits / "x.npy", x)
    assert main(["run", str(out), "--input", str(digits / "x.npy"), "-o",
                 str(digits / "y.npy")]) == 0
    y_run = np.load(digits / "y.npy")
    assert y_run.shape == (64, 10) and float(np.mean(y_run.argmax(1) == y)) > 0.85

    recs_cli = ["simulate", str(out), "--json"]
    capsys.readouterr()
    assert main(recs_cli) == 0
    recs = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in recs] == ["conv1", "conv2", "fc"]
    assert recs[0]["pixels"] == 64 and recs[1]["pixels"] == 16
    assert "seeded random input" in recs[0]["input"]
    assert recs[0]["config"]["num_pes"] == 4

    # swap: the user's own torch model with its layers on the engine gives eie run's output.
    import digits_cnn

    model = digits_cnn.DigitsCNN().eval()
    model.load_state_dict(torch.load(digits / "digits_cnn.pt", weights_only=True))
    assert sorted(swap(model, eie.load(out))) == ["conv1", "conv2", "fc"]
    with torch.no_grad():
        y_swap = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(y_swap, y_run, atol=1e-4)
    np.testing.assert_allclose(Engine.load(out)(x), y_run, atol=1e-6)
