"""A compressed torch model gives the same outputs through Engine, the reference engine and the
nn.Linear swap (eie.engine.torch)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from engine_cases import CODEBOOK

import eie
from eie.engine import Engine, reference
from eie.engine.torch import EIELinear, swap
from eie.errors import EngineError
from eie.formats import EIEMatrix


def compressed_mlp(seed: int = 0) -> tuple[torch.nn.Sequential, eie.Model]:
    """A torch MLP whose weights are pruned and shared (every weight a codebook value), and the
    same weights as an eie.Model."""
    g = torch.Generator().manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(64, 48), torch.nn.ReLU(),
                              torch.nn.Linear(48, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
    layers = []
    linear_idx = [0, 2, 4]
    for j, i in enumerate(linear_idx):
        lin = net[i]
        assert isinstance(lin, torch.nn.Linear)
        density = (0.15, 0.5, 0.9)[j]
        keep = torch.rand(lin.weight.shape, generator=g) < density
        codes = torch.randint(1, 16, lin.weight.shape, generator=g) * keep
        with torch.no_grad():
            lin.weight.copy_(torch.tensor(CODEBOOK)[codes])
        m = EIEMatrix.from_dense(lin.weight.detach().numpy(), CODEBOOK, num_pes=4)
        act = "relu" if i < 4 else None
        layers.append(eie.Layer(str(i), m, lin.bias.detach().numpy().copy(), act))
    return net, eie.Model(tuple(layers), source="random compressed MLP")


def reference_run(model: eie.Model, x: np.ndarray) -> np.ndarray:
    h = x
    for layer in model.layers:
        h = reference.spmv(layer.matrix, h, layer.bias, layer.activation)
    return h


def test_engine_reference_and_swap_agree() -> None:
    net, model = compressed_mlp()
    x = torch.relu(torch.randn(6, 64, generator=torch.Generator().manual_seed(1)))
    with torch.no_grad():
        y_torch = net(x).numpy()
    y_ref = np.stack([reference_run(model, v) for v in x.numpy()])
    y_engine = Engine(model)(x)
    assert isinstance(y_engine, torch.Tensor) and y_engine.dtype == torch.float32
    swapped = swap(net, model)
    assert swapped == ["0", "2", "4"]
    assert all(isinstance(net[i], EIELinear) for i in (0, 2, 4))
    with torch.no_grad():
        y_swap = net(x).numpy()
    np.testing.assert_allclose(y_torch, y_ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(y_engine.numpy(), y_ref, rtol=1e-4, atol=1e-4)
    # The swapped net applies ReLU twice (EIE layer + nn.ReLU): idempotent, same result.
    np.testing.assert_allclose(y_swap, y_ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_low_precision_inputs_w4a16(dtype: torch.dtype) -> None:
    _, model = compressed_mlp(2)
    x = torch.relu(torch.randn(3, 64, generator=torch.Generator().manual_seed(3))).to(dtype)
    y = Engine(model)(x)
    assert y.dtype == dtype
    y_ref = np.stack([reference_run(model, v) for v in x.to(torch.float32).numpy()])
    # Inner layers run in fp32; only the input and the final output are 16-bit.
    tol = {torch.float32: 1e-4, torch.float16: 2e-3, torch.bfloat16: 1e-2}[dtype]
    np.testing.assert_allclose(y.to(torch.float32).numpy(), y_ref, rtol=tol, atol=tol)


def test_eie_linear_leading_dims_and_errors() -> None:
    _, model = compressed_mlp(4)
    layer = model.layers[0]
    mod = EIELinear(layer)
    x = torch.randn(2, 3, 64)
    y = mod(x)
    assert y.shape == (2, 3, 48)
    y_ref = reference.spmv(layer.matrix, x[1, 2].numpy(), layer.bias, layer.activation)
    np.testing.assert_allclose(y[1, 2].numpy(), y_ref, rtol=1e-5, atol=1e-5)
    with pytest.raises(EngineError, match="expects"):
        mod(torch.randn(2, 63))
    net = torch.nn.Sequential(torch.nn.Linear(64, 5))
    with pytest.raises(EngineError, match="nn.Linear is 5x64"):
        swap(net, eie.Model((eie.Layer("0", layer.matrix),)))
    with pytest.raises(EngineError, match="no nn.Linear or nn.Conv2d named"):
        swap(net, eie.Model((eie.Layer("fc9", layer.matrix),)))
    assert swap(net, eie.Model((eie.Layer("fc9", layer.matrix),)), strict=False) == []
