"""Whole models layer after layer, and the authors' real AlexNet fc8 layer."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

import eie
from eie.engine.fixed_point import FixedPointFormat
from eie.engine.reference import spmv_fixed
from eie.errors import EngineError
from eie.formats.benchmark_layers import random_codebook, random_codes
from eie.sim import HardwareConfig, ModelSimResult, simulate


def three_layer_model(seed: int = 0) -> eie.Model:
    """A LeNet-300-100-shaped chain (scaled down): 64 -> 30 -> 20 -> 10."""
    rng = np.random.default_rng(seed)
    layers = []
    dims = [64, 30, 20, 10]
    for i, (cin, cout) in enumerate(itertools.pairwise(dims)):
        m = eie.EIEMatrix.from_codes(random_codes(cout, cin, 0.3, rng), random_codebook() * 5,
                                     num_pes=8)
        act = "relu" if i < 2 else None
        layers.append(eie.Layer(f"fc{i + 1}", m, rng.normal(size=cout).astype(np.float32) * 0.1,
                                act))
    return eie.Model(tuple(layers), source="test")


def test_model_chain_is_bit_exact(tmp_path: Path) -> None:
    model = three_layer_model()
    eie.save(tmp_path / "m.eie", model)
    model = eie.load(tmp_path / "m.eie")
    x = np.random.default_rng(1).random(64).astype(np.float32)
    cfg = HardwareConfig(num_pes=4)
    r = simulate(model, x, config=cfg)
    assert isinstance(r, ModelSimResult) and len(r.layers) == 3
    h = r.layers[0].fmt.quantize_act(x)
    for layer, lr in zip(model.layers, r.layers, strict=True):
        h = spmv_fixed(layer.matrix, h, layer.bias, layer.activation, lr.fmt)
        assert np.array_equal(lr.output_q, h)
        assert lr.name == layer.name and lr.config.num_pes == 4
    assert np.array_equal(r.output_q, h)
    assert r.cycles == sum(lr.cycles for lr in r.layers)
    assert r.energy_pj == pytest.approx(sum(lr.energy_pj for lr in r.layers))
    records = r.to_json()
    assert [d["name"] for d in records] == ["fc1", "fc2", "fc3"]
    # Hidden activations after ReLU are sparse: the second layer broadcasts only nonzeros (and
    # its bias column).
    nonzero_hidden = int(np.count_nonzero(r.layers[0].output_q))
    assert r.layers[1].actions["ccu", "broadcast"] == nonzero_hidden + 1


def test_default_format_covers_every_layer() -> None:
    model = three_layer_model()
    x = np.random.default_rng(1).random(64).astype(np.float32)
    r = simulate(model, x, config=HardwareConfig(num_pes=4))
    out = r.output
    from eie.engine.reference import spmv

    h = x
    for layer in model.layers:
        h = spmv(layer.matrix, h, layer.bias, layer.activation)
    # No saturation: the fixed-point chain tracks the float one closely.
    assert np.max(np.abs(out - h)) < 0.05 * max(1.0, float(np.max(np.abs(h))))


def test_model_rejects_bias_and_non_chaining() -> None:
    model = three_layer_model()
    with pytest.raises(EngineError):
        simulate(model, np.ones(64, np.float32), bias=np.ones(30, np.float32))  # type: ignore[call-overload]
    bad = eie.Model((model.layers[0], model.layers[2]))
    with pytest.raises(EngineError, match="chain"):
        simulate(bad, np.ones(64, np.float32))
    with pytest.raises(EngineError, match="int16"):
        simulate(model.layers[0].matrix, np.ones(64, np.int16))


def test_authors_fc8_layer(fixture_dir: Path) -> None:
    from eie.formats import eiesim

    m, bias, act = eiesim.load(fixture_dir)
    assert m.shape == (1000, 4096) and m.num_pes == 64
    fmt = FixedPointFormat.for_data(float(np.abs(act).max()) * 4, float(np.abs(m.codebook).max()))
    r = simulate(m, act, bias, activation="relu", fmt=fmt)
    assert np.array_equal(r.output_q, spmv_fixed(m, fmt.quantize_act(act), bias, "relu", fmt))
    nz = int(np.count_nonzero(fmt.quantize_act(act)))
    assert r.actions["ccu", "broadcast"] == nz + 1  # the bias column
    assert r.pe_filler_entries.sum() == 0  # the README: this layer has no fillers
    # The bias column holds 959 entries (the dump's pointer files: cols + 2 per PE).
    assert int(np.count_nonzero(fmt.quantize_bias(bias))) == 959
    assert r.macs == int(np.count_nonzero(m.to_codes()[:, fmt.quantize_act(act) != 0])) + 959
    # One column of ~4 entries per PE per broadcast: the FIFO hides most of the imbalance.
    assert 0.8 < r.load_efficiency <= 1.0
    assert r.cycles > r.macs / 64
