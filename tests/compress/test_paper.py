"""The paper's LeNet-300-100 recipe in quick mode: the API the end-to-end flow relies on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import eie
from eie.compress import paper
from eie.compress.data import mnist_split
from eie.compress.train import train_reference
from eie.engine.reference import spmv


@pytest.mark.slow
def test_lenet300_quick(tmp_path: Path) -> None:
    ref = train_reference("lenet300", seed=0, epochs=2)
    result = paper.run("lenet300", seed=0, quick=True, reference=ref)
    j = result.to_json()
    assert j["num_pes"] == 1
    dens = {layer["name"]: layer["density"] for layer in j["layers"]}
    assert dens == pytest.approx({"fc1": 0.08, "fc2": 0.09, "fc3": 0.26}, abs=1e-3)
    assert [layer["bits"] for layer in j["layers"]] == [4, 5, 6]
    assert j["compression_ratio"] > 38 and j["compression_ratio_no_huffman"] > 33
    assert j["accuracy_reference"] - j["accuracy_compressed"] < 0.03
    out = result.save(tmp_path / "lenet300.eie")
    model = eie.load(out)
    assert [layer.activation for layer in model.layers] == ["relu", "relu", None]
    assert all(layer.bias is not None for layer in model.layers)
    x = mnist_split().x_test[:8]
    with torch.no_grad():
        expected = result.torch_model(x).numpy()
    for i in range(len(x)):
        h = x[i].numpy()
        for layer in model.layers:
            h = spmv(layer.matrix, h, layer.bias, layer.activation)
        np.testing.assert_allclose(h, expected[i], rtol=1e-4, atol=1e-4)
    # The stored bits are what the report says (no Huffman in the file: fixed-width streams).
    assert model.storage().compression_ratio == pytest.approx(j["compression_ratio_no_huffman"])
