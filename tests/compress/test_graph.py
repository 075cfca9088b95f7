"""Activations come from the model's own graph: a ReLU that follows a layer is fused, anything
else stays in torch; eie's output equals the compressed torch model's."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from eie.compress.export import to_eie_model
from eie.compress.graph import capture
from eie.compress.models import LeNet5, LeNet300, compressible_layers
from eie.compress.share import apply_shared, share_weights
from eie.engine import Engine
from eie.engine.torch import swap
from eie.errors import CompressionError, EngineError

TOL = 1e-4  # float32: eie accumulates in another order than torch


class NormGeluMLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(12, 32)
        self.norm = nn.LayerNorm(32)
        self.fc2 = nn.Linear(32, 16)
        self.fc3 = nn.Linear(16, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = nn.functional.gelu(self.norm(self.fc1(x)))
        return self.fc3(torch.relu(self.fc2(h)))


class ResidualMLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inp = nn.Linear(12, 24)
        self.block = nn.Linear(24, 24)
        self.out = nn.Linear(24, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.inp(x))
        h = h + torch.relu(self.block(h))
        return self.out(h)


class SmallCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 3, padding=1)
        self.conv2 = nn.Conv2d(6, 8, 3, stride=2, dilation=1)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(8 * 1 * 1, 5)
        self.drop = nn.Dropout(0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(torch.relu(self.conv1(x)))  # (N, 6, 4, 4)
        x = nn.functional.relu(self.conv2(x))  # (N, 8, 1, 1)
        return self.fc(self.drop(torch.flatten(x, 1)))


def _compressed(model: nn.Module, bits: int = 4) -> tuple[nn.Module, dict]:
    torch.manual_seed(0)
    model.eval()
    shared = {n: share_weights(m.weight, m.weight.abs() > m.weight.abs().median(), bits)
              for n, m in compressible_layers(model)}
    apply_shared(model, shared)
    return model, shared


def test_activations_follow_the_graph() -> None:
    assert capture(NormGeluMLP()).activations == {"fc1": None, "fc2": "relu", "fc3": None}
    assert capture(ResidualMLP()).activations == {"inp": "relu", "block": "relu", "out": None}
    assert capture(LeNet5()).activations == {"conv1": None, "conv2": None, "fc1": "relu",
                                             "fc2": None}
    assert capture(LeNet300()).activations == {"fc1": "relu", "fc2": "relu", "fc3": None}
    # A layer whose output has a second user keeps no ReLU even if one follows.
    seq = nn.Sequential(nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 2))
    assert capture(seq).activations == {"0": "relu", "2": None}
    assert capture(SmallCNN()).chain and capture(LeNet5()).chain


def test_chain_breaks_name_the_layer() -> None:
    g = capture(NormGeluMLP())
    assert not g.chain and g.breaks is not None and "after layer 'fc1'" in g.breaks
    assert "LayerNorm" in g.breaks
    r = capture(ResidualMLP())
    assert not r.chain and r.breaks is not None and "'inp'" in r.breaks and "2 times" in r.breaks


@pytest.mark.parametrize("factory", [NormGeluMLP, ResidualMLP])
def test_non_chains_run_through_swap_equal_to_torch(factory: type[nn.Module]) -> None:
    model, shared = _compressed(factory())
    em = to_eie_model(model, shared, num_pes=2)
    assert em.metadata["graph"]["chain"] is False
    with pytest.raises(EngineError, match="chain"):
        Engine(em)
    x = torch.randn(7, 12)
    with torch.no_grad():
        want = model(x)
        before = {n: type(m) for n, m in model.named_modules()}
        assert sorted(swap(model, em)) == sorted(shared)
        got = model(x)
    assert not any(isinstance(m, nn.Linear) for m in model.modules())
    assert before  # the module was changed in place
    torch.testing.assert_close(got, want, atol=TOL, rtol=0)


def test_cnn_through_engine_swap_and_reference() -> None:
    model, shared = _compressed(SmallCNN())
    em = to_eie_model(model, shared, num_pes=3)
    assert [ly.activation for ly in em.layers] == ["relu", "relu", None]
    assert em.layers[0].attrs["then"] == [{"op": "max_pool2d", "kernel": [2, 2],
                                           "stride": [2, 2], "padding": [0, 0]}]
    x = torch.rand(5, 1, 8, 8)
    with torch.no_grad():
        want = model(x).numpy()
    eng = Engine(em)
    np.testing.assert_allclose(eng(x.numpy()), want, atol=TOL, rtol=0)
    np.testing.assert_allclose(eng(x.numpy()[0]), want[0], atol=TOL, rtol=0)  # one sample
    np.testing.assert_allclose(Engine(em, layout_name="sparse")(x.numpy()), want, atol=TOL)
    from eie.engine.conv import conv2d_reference

    ref = conv2d_reference(em.layers[0], x.numpy())
    with torch.no_grad():
        np.testing.assert_allclose(ref, torch.relu(model.conv1(x)).numpy(), atol=TOL)
    with torch.no_grad():
        swap(model, em)
        np.testing.assert_allclose(model(x).numpy(), want, atol=TOL, rtol=0)


def test_swap_leaves_the_module_untouched_when_it_raises() -> None:
    model, shared = _compressed(LeNet5())
    em = to_eie_model(model, shared)
    other = LeNet5()
    other.fc1 = nn.Linear(800, 400)  # mismatched shape, after conv1/conv2 in the walk
    types = [type(m) for m in other.modules()]
    with pytest.raises(EngineError, match="fc1"):
        swap(other, em)
    assert [type(m) for m in other.modules()] == types
    with pytest.raises(EngineError, match=r"Linear or nn\.Conv2d named \['conv1'\].*'fc'"):
        net = nn.Sequential()
        net.add_module("fc", nn.Linear(2, 2))
        swap(net, em.__class__((em.layers[0],)))
    assert isinstance(net.fc, nn.Linear)


def test_untraceable_models_must_declare() -> None:
    class Dynamic(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(3, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(x) if float(x.sum()) > 0 else torch.tanh(self.fc(x))

    with pytest.raises(CompressionError, match="eie_activations"):
        capture(Dynamic())

    class Declared(Dynamic):
        def eie_activations(self) -> list[str | None]:
            return [None]

    g = capture(Declared())
    assert g.activations == {"fc": None} and not g.chain and not g.traced

    class Lying(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(3, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.tanh(self.fc(x))

        def eie_activations(self) -> list[str | None]:
            return ["relu"]

    with pytest.raises(CompressionError, match="graph has"):
        capture(Lying())


def test_compress_refuses_an_unknown_graph_before_training() -> None:
    from eie.compress import QuantizeStage, Recipe, compress

    class Dynamic(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(3, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(x) if float(x.sum()) > 0 else torch.tanh(self.fc(x))

    calls: list[int] = []
    with pytest.raises(CompressionError, match="eie_activations"):
        compress(Dynamic(), Recipe(stages=(QuantizeStage(bits=2, epochs=1),)),
                 lambda *a: calls.append(1), lambda m: calls.append(2) or 0.0)
    assert calls == []  # neither trained nor evaluated
