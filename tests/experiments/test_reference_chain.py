"""One reference chain and one fixed-point calibration: ``reference.forward`` equals the layers
run one by one, and ``FixedPointFormat.for_model`` holds every activation and codebook."""

from __future__ import annotations

import numpy as np
import pytest

from eie.engine import Engine, reference
from eie.engine.fixed_point import FixedPointFormat
from eie.errors import EngineError
from eie.formats import EIEMatrix, Layer, Model


def chain(rng: np.random.Generator) -> Model:
    layers = []
    for i, (rows, cols) in enumerate(((17, 33), (9, 17), (4, 9))):
        codes = rng.integers(0, 16, (rows, cols)) * (rng.random((rows, cols)) < 0.4)
        cb = np.concatenate([[0.0], rng.standard_normal(15)]).astype(np.float32)
        layers.append(Layer(f"fc{i}", EIEMatrix.from_codes(codes, cb, num_pes=3),
                            bias=rng.standard_normal(rows).astype(np.float32),
                            activation="relu" if i < 2 else None))
    return Model(tuple(layers))


def test_forward_chains_spmv_and_matches_the_engine() -> None:
    rng = np.random.default_rng(0)
    model = chain(rng)
    x = rng.random((5, 33)).astype(np.float32)
    outs = reference.layer_outputs(model, x)
    assert [o.shape for o in outs] == [(5, 17), (5, 9), (5, 4)]
    h = x[2]
    for ly in model.layers:
        h = reference.spmv(ly.matrix, h, ly.bias, ly.activation)
    np.testing.assert_array_equal(outs[-1][2], h)
    np.testing.assert_array_equal(reference.forward(model, x[2]), h)  # one input
    np.testing.assert_allclose(Engine(model)(x), outs[-1], rtol=1e-5, atol=1e-5)


def test_calibration_holds_every_activation_and_weight() -> None:
    rng = np.random.default_rng(1)
    model = chain(rng)
    x = rng.random((8, 33)).astype(np.float32) * 3
    fmt = FixedPointFormat.for_model(model, x)
    peak = max(float(np.abs(x).max()), *(float(np.abs(o).max())
                                         for o in reference.layer_outputs(model, x)))
    max_w = max(float(np.abs(ly.matrix.codebook).max()) for ly in model.layers)
    assert fmt == FixedPointFormat.for_data(peak, max_w)
    assert peak < 2 ** (15 - fmt.act_frac_bits)  # the largest activation fits in int16
    assert peak >= 2 ** (14 - fmt.act_frac_bits)  # with no fraction bit to spare


def test_forward_refuses_a_graph() -> None:
    rng = np.random.default_rng(2)
    m = chain(rng)
    bad = Model((Layer("c", m.layers[0].matrix, attrs={"kind": "conv2d"}),))
    with pytest.raises(EngineError, match="'c' is not one"):
        reference.forward(bad, np.ones(33, np.float32))


def test_one_calibration_for_every_caller() -> None:
    """``simulate``'s default format and ``FixedPointFormat.for_model`` are one calibration
    (``FixedPointFormat.calibrate``) over the input, every float output and every codebook."""
    from eie.sim import simulate

    rng = np.random.default_rng(3)
    model = chain(rng)
    x = (rng.random(33) * 6).astype(np.float32)
    fmt = FixedPointFormat.for_model(model, x)
    assert all(r.fmt == fmt for r in simulate(model, x).layers)
    outs = reference.layer_outputs(model, x)
    assert fmt == FixedPointFormat.calibrate([x, *outs], [ly.matrix.codebook for ly in model.layers])
    peak = max(float(np.abs(a).max()) for a in (x, *outs))
    assert fmt == FixedPointFormat.for_data(peak, max(float(np.abs(ly.matrix.codebook).max())
                                                      for ly in model.layers))
    assert FixedPointFormat.calibrate([None, x], []) == FixedPointFormat.for_data(
        float(np.abs(x).max()), 0.0)
