"""The bundled models (torch), defined by hand as in Deep Compression's MNIST experiments.

- ``LeNet300``: LeNet-300-100, 784 -> 300 -> 100 -> 10 fully connected, ReLU between
  (266,200 weights);
- ``LeNet5``: the Caffe LeNet-5 of the paper: conv 20 x 5x5, max-pool 2, conv 50 x 5x5,
  max-pool 2, fc 800 -> 500, ReLU, fc 500 -> 10 (430,500 weights).

Both take ``(batch, 784)`` pixel intensities in [0, 1] (``eie.compress.data``) and return logits.
``compressible_layers(model)`` lists the Linear and Conv2d layers in registration order; what
follows each of them (a fused ReLU or nothing) is read from the model's graph
(``eie.compress.graph``), never assumed.

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
    """Activation after each compressible layer (``compressible_layers`` order), read from the
    model's graph (``eie.compress.graph.capture``): ``"relu"`` only where a ReLU follows."""
    from eie.compress.graph import capture

    acts = capture(model).activations
    return [acts[n] for n, _ in compressible_layers(model)]


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
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor)
                                              for v in state.values()):
        raise ConfigError(f"{p}: expected a state_dict (a mapping of names to tensors), found "
                          f"{type(state).__name__}")
    problems = state_dict_mismatch(model, state)
    if problems:
        raise ConfigError(f"{p}: weights do not fit {arch}: {problems}")
    model.load_state_dict(state)
    return model.eval()


def state_dict_mismatch(model: nn.Module, state: dict[str, torch.Tensor]) -> str:
    """Every missing, unexpected and mis-shaped key of ``state`` for ``model`` on one line
    ("" when it fits).

    >>> state_dict_mismatch(nn.Linear(2, 3), {"weight": torch.zeros(3, 4), "b": torch.zeros(1)})
    "missing keys ['bias']; unexpected keys ['b']; mis-shaped keys ['weight': expected (3, 2), found (3, 4)]"
    """
    want = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    missing = sorted(set(want) - set(state))
    unexpected = sorted(set(state) - set(want))
    shaped = [f"{k!r}: expected {want[k]}, found {tuple(state[k].shape)}" for k in want
              if k in state and tuple(state[k].shape) != want[k]]
    parts = []
    if missing:
        parts.append(f"missing keys {missing}")
    if unexpected:
        parts.append(f"unexpected keys {unexpected}")
    if shaped:
        parts.append(f"mis-shaped keys [{', '.join(shaped)}]")
    return "; ".join(parts)
