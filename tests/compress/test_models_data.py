"""Bundled models, the MNIST split, reference training and its cache, checkpoint loading."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from eie._io import cache_dir
from eie.compress.data import mnist_split
from eie.compress.models import (
    LeNet5,
    LeNet300,
    build,
    compressible_layers,
    from_checkpoint,
    import_architecture,
    layer_activations,
)
from eie.compress.train import evaluate, train_reference
from eie.errors import ConfigError


def test_mnist_split_is_fixed_and_stratified() -> None:
    a, b = mnist_split(), mnist_split()
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    assert a.x_train.shape == (4000, 784) and a.x_test.shape == (1000, 784)
    assert a.x_train.dtype == torch.float32 and float(a.x_train.max()) <= 1.0
    assert a.y_train.bincount().tolist() == [400] * 10
    assert a.y_test.bincount().tolist() == [100] * 10
    assert not torch.equal(mnist_split(seed=1).y_test, a.y_test)


def test_models_shapes_and_layers() -> None:
    x = torch.zeros(3, 784)
    assert LeNet300()(x).shape == (3, 10) and LeNet5()(x).shape == (3, 10)
    sizes = {n: m.weight.numel() for n, m in compressible_layers(LeNet300())}
    assert sizes == {"fc1": 235200, "fc2": 30000, "fc3": 1000}
    assert sum(m.weight.numel() for _, m in compressible_layers(LeNet5())) == 430500
    assert layer_activations(LeNet300()) == ["relu", "relu", None]
    assert layer_activations(LeNet5()) == [None, None, "relu", None]
    seq = nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    assert layer_activations(seq) == ["relu", None]
    with pytest.raises(ConfigError, match="unknown bundled model"):
        build("alexnet")


def test_train_reference_caches(tmp_path: Path) -> None:
    m1 = train_reference("lenet300", seed=5, epochs=1, cache_dir=tmp_path)
    files = list(tmp_path.glob("lenet300-seed5-e1-*.pt"))
    assert len(files) == 1
    m2 = train_reference("lenet300", seed=5, epochs=1, cache_dir=tmp_path)
    for (k, v), (_, w) in zip(m1.state_dict().items(), m2.state_dict().items(), strict=True):
        assert torch.equal(v, w), k
    d = mnist_split()
    assert evaluate(m1, d.x_test, d.y_test) > 0.75  # one epoch already learns the digits
    assert cache_dir() == Path(__import__("os").environ["EIE_CACHE_DIR"])


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(784, 16)
        self.b = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(torch.relu(self.a(x)))


def test_from_checkpoint_state_dict_and_safetensors(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    net = Net()
    torch.save(net.state_dict(), tmp_path / "n.pt")
    save_file(net.state_dict(), str(tmp_path / "n.safetensors"))
    arch = f"{__name__}:Net"
    for f in ("n.pt", "n.safetensors"):
        loaded = from_checkpoint(str(tmp_path / f), arch)
        assert torch.equal(loaded.a.weight, net.a.weight)
    with pytest.raises(ConfigError, match="import path"):
        import_architecture("nodots")
    with pytest.raises(ConfigError, match="cannot import"):
        import_architecture("no_such_pkg.nets:Net")
    with pytest.raises(ConfigError, match="do not fit") as e:
        from_checkpoint(str(tmp_path / "n.pt"), "eie.compress.models:LeNet300")
    # The whole list, on one line: every missing and unexpected key.
    msg = str(e.value)
    assert "\n" not in msg and "'fc3.bias'" in msg and "unexpected keys ['a.bias'" in msg
    bad = LeNet300().state_dict()
    bad["fc2.weight"] = torch.zeros(100, 301)
    torch.save(bad, tmp_path / "shape.pt")
    with pytest.raises(ConfigError, match=r"mis-shaped keys \['fc2.weight': expected "
                                          r"\(100, 300\), found \(100, 301\)\]"):
        from_checkpoint(str(tmp_path / "shape.pt"), "eie.compress.models:LeNet300")
    with pytest.raises(ConfigError, match="no such checkpoint"):
        from_checkpoint(str(tmp_path / "missing.pt"), arch)


def test_lenet5_export_describes_the_convolutions() -> None:
    from eie.compress.export import to_eie_model
    from eie.compress.share import share_weights

    model = LeNet5()
    shared = {n: share_weights(m.weight, None, 4) for n, m in compressible_layers(model)}
    eie_model = to_eie_model(model, shared)
    conv1 = eie_model.layer("conv1")
    assert conv1.matrix.shape == (20, 25) and conv1.activation is None
    assert conv1.attrs["kind"] == "conv2d" and conv1.attrs["weight_shape"] == [20, 1, 5, 5]
    assert conv1.attrs["then"] == [{"op": "max_pool2d", "kernel": [2, 2], "stride": [2, 2],
                                    "padding": [0, 0]}]
    assert conv1.attrs["before"] == [{"op": "reshape", "shape": [1, 28, 28]}]
    assert eie_model.layer("conv2").attrs["then"][-1] == {"op": "flatten"}
    assert eie_model.layer("fc1").attrs == {"kind": "linear", "then": []}
    assert eie_model.layer("fc1").activation == "relu"
