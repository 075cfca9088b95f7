"""A model from the compression pipeline (LeNet-300-100: magnitude pruning at the paper's
densities, 4-bit k-means weight sharing, export to eie.Model) gives the same outputs through the
original torch model, Engine, the reference engine and the nn.Linear swap."""

from __future__ import annotations

import copy

import numpy as np
import torch

from eie.compress.export import to_eie_model
from eie.compress.models import LeNet300
from eie.compress.prune import magnitude_mask
from eie.compress.share import apply_shared, share_weights
from eie.engine import Engine, reference
from eie.engine.torch import swap

DENSITIES = {"fc1": 0.08, "fc2": 0.09, "fc3": 0.26}  # the paper's LeNet-300-100 densities


def test_pipeline_model_through_every_engine() -> None:
    torch.manual_seed(0)
    net = LeNet300().eval()
    shared = {}
    for name, density in DENSITIES.items():
        w = getattr(net, name).weight
        shared[name] = share_weights(w, magnitude_mask(w, density), bits=4)
    apply_shared(net, shared)
    model = to_eie_model(net, shared, num_pes=4)
    assert [layer.matrix.shape for layer in model.layers] == [(300, 784), (100, 300), (10, 100)]

    x = torch.rand(8, 784, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y_torch = net(x).numpy()
    y_ref = []
    for v in x.numpy():
        h = v
        for layer in model.layers:
            h = reference.spmv(layer.matrix, h, layer.bias, layer.activation)
        y_ref.append(h)
    engine = Engine(model)
    assert [el.kind for el in engine.layers] == ["sparse", "sparse", "dense"]
    y_engine = engine(x).numpy()
    swapped = copy.deepcopy(net)
    assert swap(swapped, model) == ["fc1", "fc2", "fc3"]
    with torch.no_grad():
        y_swap = swapped(x).numpy()
    for y in (np.stack(y_ref), y_engine, y_swap):
        np.testing.assert_allclose(y, y_torch, rtol=1e-4, atol=1e-5)
    assert (y_engine.argmax(1) == y_torch.argmax(1)).all()
