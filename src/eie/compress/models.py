"""The bundled models (torch), defined by hand as in Deep Compression's MNIST experiments.

- ``LeNet300``: LeNet-300-100, 784 -> 300 -> 100 -> 10 fully connected, ReLU between
  (266,200 weights);
- ``LeNet5``: the Caffe LeNet-5 of the paper: conv 20 x 5x5, max-pool 2, conv 50 x 5x5,
  max-pool 2, fc 800 -> 500, ReLU, fc 500 -> 10 (430,500 weights).

Both take ``(batch, 784)`` pixel intensities in [0, 1] (``eie.compress.data``) and return logits.
``compressible_layers(model)`` lists the Linear and Conv2d layers in forward order; a model may
define ``eie_activations()`` (one ``"relu"`` or None per compressible layer) and
``eie_layer_attrs()`` (extra JSON attributes per layer name) for the export.

>>> import torch
>>> LeNet300()(torch.zeros(2, 784)).shape
torch.Size([2, 10])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from eie.errors import ConfigError


class LeNet300(nn.Module):
    """LeNet-300-100: fc1 (300x784), fc2 (100x300), fc3 (10x100), ReLU between."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(784, 300)
        self.fc2 = nn.Linear(300, 100)
        self.fc3 = nn.Linear(100, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], -1)
        return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))

    def eie_activations(self) -> list[str | None]:
        return ["relu", "relu", None]


class LeNet5(nn.Module):
    """LeNet-5 (Caffe variant): conv1 20x1x5x5, conv2 50x20x5x5, fc1 500x800, fc2 10x500."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 20, 5)
        self.conv2 = nn.Conv2d(20, 50, 5)
        self.fc1 = nn.Linear(800, 500)
        self.fc2 = nn.Linear(500, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], 1, 28, 28)
        x = torch.max_pool2d(self.conv1(x), 2)  # (B, 20, 12, 12)
        x = torch.max_pool2d(self.conv2(x), 2)  # (B, 50, 4, 4)
        x = torch.relu(self.fc1(x.flatten(1)))
        return self.fc2(x)

    def eie_activations(self) -> list[str | None]:
        # The convolutions feed max-pooling, not a ReLU; fc1 is followed by ReLU.
        return [None, None, "relu", None]

    def eie_layer_attrs(self) -> dict[str, dict[str, object]]:
        """Extra ``.eie`` layer attributes: what runs between the stored layers."""
        return {"conv1": {"then": "max_pool2d", "pool": 2, "input_shape": [1, 28, 28]},
                "conv2": {"then": "max_pool2d", "pool": 2, "flatten_after": True}}


MODELS: dict[str, Callable[[], nn.Module]] = {"lenet300": LeNet300, "lenet5": LeNet5}


def build(name: str) -> nn.Module:
    """A fresh (untrained) bundled model by name: one of ``MODELS``."""
    if name not in MODELS:
        raise ConfigError(f"unknown bundled model {name!r}; expected one of {sorted(MODELS)}")
    return MODELS[name]()


def compressible_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(name, module)`` of every Linear and Conv2d layer, in registration order."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear | nn.Conv2d)]


def layer_activations(model: nn.Module) -> list[str | None]:
    """Activation after each compressible layer, for the ``.eie`` export.

    ``model.eie_activations()`` when defined; for an ``nn.Sequential`` whether an ``nn.ReLU``
    follows the layer; otherwise ReLU between layers and none after the last (an MLP).
    """
    layers = compressible_layers(model)
    fn = getattr(model, "eie_activations", None)
    if callable(fn):
        acts = list(fn())
        if len(acts) != len(layers):
            raise ConfigError(f"eie_activations() should give {len(layers)} entries, "
                              f"found {len(acts)}")
        return acts
    if isinstance(model, nn.Sequential):
        mods = list(model)
        acts = []
        for i, m in enumerate(mods):
            if isinstance(m, nn.Linear | nn.Conv2d):
                nxt = next((x for x in mods[i + 1:] if not isinstance(x, nn.Flatten)), None)
                acts.append("relu" if isinstance(nxt, nn.ReLU) else None)
        return acts
    return ["relu"] * (len(layers) - 1) + [None]


def import_architecture(spec: str) -> nn.Module:
    """Instantiate ``"package.module:Class"`` (or ``"package.module.Class"``) with no
    arguments."""
    import importlib

    mod_name, sep, attr = spec.partition(":")
    if not sep:
        mod_name, _, attr = spec.rpartition(".")
    if not mod_name or not attr:
        raise ConfigError(f"architecture should be an import path like 'mypkg.nets:MyNet', "
                          f"found {spec!r}")
    try:
        factory = getattr(importlib.import_module(mod_name), attr)
    except (ImportError, AttributeError) as e:
        raise ConfigError(f"cannot import architecture {spec!r}: {e}; is its package on "
                          "PYTHONPATH?") from None
    model = factory()
    if not isinstance(model, nn.Module):
        raise ConfigError(f"{spec!r} should build a torch.nn.Module, found "
                          f"{type(model).__name__}")
    return model


def from_checkpoint(path: str, arch: str) -> nn.Module:
    """A user's model: architecture ``arch`` (import path) with weights from a state_dict file
    (``.pt``/``.pth``, loaded with ``weights_only=True``) or a ``.safetensors`` file."""
    from pathlib import Path

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: no such checkpoint; expected a state_dict (.pt, .pth) or "
                          ".safetensors file, or a bundled model name " f"{sorted(MODELS)}")
    model = import_architecture(arch)
    state: Any
    if p.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(p))
    else:
        state = torch.load(p, weights_only=True, map_location="cpu")
        if isinstance(state, dict) and "state_dict" in state:
            state = state["state_dict"]
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise ConfigError(f"{p}: weights do not fit {arch}: {str(e).splitlines()[0]}") from None
    return model.eval()
