"""The user's own data and metric for ``eie compress`` (any input shape).

- ``--data FILE.npz``: arrays ``x_train``, ``y_train``, ``x_val``, ``y_val`` (inputs of any shape
  ``(N, ...)``, floating point; labels integer class indices ``(N,)``). In one-shot mode only
  ``x_val`` / ``y_val`` (the calibration data) are needed.
- ``--data pkg.mod:fn``: ``fn()`` returns ``(train, val)`` or ``{"train": ..., "val": ...}``,
  each a ``torch.utils.data.Dataset`` (of ``(input, label)`` pairs), a ``DataLoader``, or a pair
  of tensors ``(x, y)``; ``train`` may be None in one-shot mode.
- ``--metric pkg.mod:metric``: ``metric(outputs, targets) -> float`` over the whole validation
  set (outputs ``(N, ...)`` logits, concatenated); default: top-1 classification accuracy.

``load_data(spec, one_shot)`` returns a ``UserData`` whose ``train_fn`` / ``eval_fn`` follow
``eie.compress.pipeline``'s contract. Training draws its batch order from torch's global
generator (which the pipeline seeds per stage and per pruning round), so a resumed run is
identical to an uninterrupted one.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from eie.compress.train import EvalFn, ReportFn, TrainFn, evaluate, train_epochs
from eie.errors import ConfigError

NPZ_KEYS = ("x_train", "y_train", "x_val", "y_val")
BATCH = 64
Metric = Callable[[torch.Tensor, torch.Tensor], float]


@dataclass
class UserData:
    train: Any
    """Tensors ``(x, y)``, a Dataset or a DataLoader; None in one-shot mode."""
    val: Any
    metric: Metric | None = None
    metric_name: str = "accuracy"
    source: str = ""

    def example(self, n: int = 2) -> torch.Tensor:
        """A few validation inputs (for shapes and sample inputs)."""
        x, _ = next(iter(_batches(self.val, n)))
        return x

    def train_fn(self) -> TrainFn:
        train = self.train

        def fn(model: nn.Module, epochs: int, lr: float, report: ReportFn | None = None) -> None:
            if epochs == 0:
                return
            if train is None:
                raise ConfigError("the recipe retrains (epochs > 0) but the data has no training "
                                  "set; give x_train/y_train or use --one-shot")
            seed = int(torch.randint(0, 2**31 - 1, (1,)))
            if isinstance(train, tuple):
                train_epochs(model, train[0], train[1], epochs, lr, BATCH, seed=seed,
                             report=report)
            else:
                _train_loader(model, train, epochs, lr, seed, report)

        return fn

    def eval_fn(self) -> EvalFn:
        val, metric = self.val, self.metric
        if metric is None and isinstance(val, tuple):
            return lambda model: evaluate(model, val[0], val[1])

        def fn(model: nn.Module) -> float:
            outs, ys = [], []
            was = model.training
            model.eval()
            with torch.no_grad():
                for x, y in _batches(val, 1000):
                    outs.append(model(x))
                    ys.append(y)
            model.train(was)
            out, y = torch.cat(outs), torch.cat(ys)
            if metric is None:
                return float((out.argmax(1) == y).float().mean())
            v = metric(out, y)
            try:
                return float(v)
            except (TypeError, ValueError):
                raise ConfigError(f"the metric should return a number, found "
                                  f"{type(v).__name__}") from None

        return fn


def _batches(data: Any, size: int) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
    if isinstance(data, tuple):
        x, y = data
        for i in range(0, len(x), size):
            yield x[i:i + size], y[i:i + size]
        return
    loader = data if isinstance(data, DataLoader) else DataLoader(data, batch_size=size)
    for batch in loader:
        if not isinstance(batch, list | tuple) or len(batch) != 2:
            raise ConfigError("each batch of the data should be (inputs, labels), found "
                              f"{type(batch).__name__}")
        yield batch[0], batch[1]


def _train_loader(model: nn.Module, data: Any, epochs: int, lr: float, seed: int,
                  report: ReportFn | None) -> None:
    """Adam over a Dataset (shuffled with ``seed``) or a user's DataLoader as it is."""
    if isinstance(data, DataLoader):
        loader = data
    else:
        loader = DataLoader(data, batch_size=BATCH, shuffle=True,
                            generator=torch.Generator().manual_seed(seed))
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for epoch in range(1, epochs + 1):
        total, n = 0.0, 0
        for x, y in _batches(loader, BATCH):
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            total += float(loss.detach())
            n += 1
        if report is not None:
            report(epoch, total / max(1, n))
    model.eval()


def import_object(spec: str, what: str) -> Any:
    """``"pkg.mod:name"`` imported."""
    mod_name, sep, attr = spec.partition(":")
    if not sep or not mod_name or not attr:
        raise ConfigError(f"{what} should be an import path like 'mypkg.data:load', found "
                          f"{spec!r}")
    try:
        return getattr(importlib.import_module(mod_name), attr)
    except (ImportError, AttributeError) as e:
        raise ConfigError(f"cannot import {what} {spec!r}: {e}; is its package on "
                          "PYTHONPATH?") from None


def _tensors(f: Any, kx: str, ky: str, path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = np.asarray(f[kx]), np.asarray(f[ky])
    if x.ndim < 2 or x.dtype.kind != "f":
        raise ConfigError(f"{path}: {kx} should be floating point of shape (N, ...), found "
                          f"{x.dtype} {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ConfigError(f"{path}: {kx} holds NaN or infinity")
    if y.shape != (x.shape[0],) or y.dtype.kind not in "iu":
        raise ConfigError(f"{path}: {ky} should be integer class labels of shape "
                          f"({x.shape[0]},), found {y.dtype} {y.shape}")
    if y.size and int(y.min()) < 0:
        raise ConfigError(f"{path}: {ky} should hold class indices >= 0, found {int(y.min())}")
    return torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y.astype(np.int64))


def load_npz(path: Path, one_shot: bool = False) -> UserData:
    if not path.is_file():
        raise ConfigError(f"{path}: no such data file; expected a .npz with arrays "
                          f"{list(NPZ_KEYS)}")
    try:
        f = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise ConfigError(f"{path}: cannot read it as .npz: {e}") from None
    with f:
        need = NPZ_KEYS[2:] if one_shot else NPZ_KEYS
        missing = [k for k in need if k not in f.files]
        if missing:
            raise ConfigError(f"{path}: missing arrays {missing}; expected {list(need)}"
                              + ("" if one_shot else " (or only x_val/y_val with --one-shot)"))
        train = _tensors(f, "x_train", "y_train", path) if "x_train" in f.files else None
        val = _tensors(f, "x_val", "y_val", path)
    if train is not None and train[0].shape[1:] != val[0].shape[1:]:
        raise ConfigError(f"{path}: x_train samples are {tuple(train[0].shape[1:])} but x_val "
                          f"samples are {tuple(val[0].shape[1:])}")
    return UserData(None if one_shot else train, val, source=str(path))


def _as_data(obj: Any, what: str, spec: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, DataLoader | Dataset):
        return obj
    if isinstance(obj, tuple | list) and len(obj) == 2 and all(isinstance(t, torch.Tensor)
                                                               for t in obj):
        x, y = obj
        if len(x) != len(y):
            raise ConfigError(f"{spec}: {what} inputs and labels differ in length "
                              f"({len(x)} and {len(y)})")
        if y.dtype.is_floating_point or y.dtype == torch.bool:  # e.g. a custom metric's targets
            return TensorDataset(x.float(), y)
        return x.float(), y.long()
    raise ConfigError(f"{spec}: {what} should be a Dataset, a DataLoader or (x, y) tensors, "
                      f"found {type(obj).__name__}")


def load_data(spec: str, one_shot: bool = False, metric: str | None = None) -> UserData:
    """``--data`` (a ``.npz`` path or ``pkg.mod:fn``) and ``--metric``."""
    if spec.endswith(".npz") or Path(spec).is_file():
        data = load_npz(Path(spec), one_shot)
    else:
        fn = import_object(spec, "data function")
        got = fn()
        if isinstance(got, dict):
            unknown = sorted(set(got) - {"train", "val"})
            if unknown or "val" not in got:
                raise ConfigError(f"{spec}() should return {{'train': ..., 'val': ...}}, found "
                                  f"keys {sorted(got)}")
            train, val = got.get("train"), got["val"]
        elif isinstance(got, tuple | list) and len(got) == 2:
            train, val = got
        else:
            raise ConfigError(f"{spec}() should return (train, val) or a dict of them, found "
                              f"{type(got).__name__}")
        if train is None and not one_shot:
            raise ConfigError(f"{spec}() gave no training data; use --one-shot to compress "
                              "without retraining")
        data = UserData(None if one_shot else _as_data(train, "train", spec),
                        _as_data(val, "val", spec), source=spec)
    if metric:
        m = import_object(metric, "metric")
        if not callable(m):
            raise ConfigError(f"metric {metric!r} should be a function (outputs, targets) -> "
                              "float")
        data.metric, data.metric_name = m, metric
    return data
