"""Training and evaluation loops (torch) and the cached reference checkpoints.

- ``train_epochs(model, x, y, epochs, lr, ...)``: mini-batch training with Adam (or SGD with
  momentum), deterministic for a given seed; ``report(epoch, loss)`` is called after each epoch;
- ``evaluate(model, x, y)``: top-1 accuracy as a fraction in [0, 1];
- ``make_train_fn(data)`` / ``make_eval_fn(data)``: the ``train_fn(model, epochs, lr, report)``
  and ``eval_fn(model) -> accuracy`` that ``eie.compress.compress`` expects, on MNIST;
- ``train_reference(name, seed)``: the trained uncompressed reference of a bundled model,
  cached under ``$EIE_CACHE_DIR`` (default ``~/.cache/eie``), never inside the package;
  ``train_reference(name, seed, epochs=None, cache_dir=None)``.

>>> import torch
>>> from eie.compress.models import LeNet300
>>> evaluate(LeNet300(), torch.zeros(4, 784), torch.zeros(4, dtype=torch.long)) in (0.0, 1.0)
True
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable

import torch
from torch import nn

from eie import _io
from eie.compress import models
from eie.compress.data import MNISTSplit, mnist_split
from eie.errors import ConfigError

ReportFn = Callable[[int, float], None]
"""``report(epoch, mean_loss)`` after every epoch (epochs counted from 1)."""
TrainFn = Callable[[nn.Module, int, float, ReportFn | None], None]
"""``train_fn(model, epochs, lr, report)``: trains ``model`` in place."""
EvalFn = Callable[[nn.Module], float]
"""``eval_fn(model) -> accuracy`` in [0, 1]."""

REFERENCE_EPOCHS = {"lenet300": 30, "lenet5": 15}
REFERENCE_BATCH = 64
REFERENCE_LR = 1e-3
CACHE_VERSION = 1


def set_threads() -> None:
    """Use ``$EIE_NUM_THREADS`` intra-op threads, by default one: these models are small, and
    on a shared 2-core machine two threads ran the quick LeNet-300-100 recipe 3.6x slower
    (54 s against 15 s) because of oversubscription."""
    env = os.environ.get("EIE_NUM_THREADS")
    n = int(env) if env and env.isdigit() else 1
    torch.set_num_threads(max(1, n))


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000
             ) -> float:
    """Top-1 accuracy of ``model`` on ``(x, y)`` as a fraction."""
    was_training = model.training
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            correct += int((model(x[i:i + batch_size]).argmax(1) == y[i:i + batch_size]).sum())
    model.train(was_training)
    return correct / max(1, len(x))


def train_epochs(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, lr: float,
                 batch_size: int = 64, seed: int = 0, optimizer: str = "adam",
                 weight_decay: float = 0.0, report: ReportFn | None = None) -> None:
    """Train ``model`` in place with cross-entropy. Deterministic for a given ``seed``."""
    if epochs < 0 or lr <= 0:
        raise ConfigError(f"epochs should be >= 0 and lr > 0, found epochs={epochs}, lr={lr}")
    if epochs == 0:
        return
    params = [p for p in model.parameters() if p.requires_grad]
    opt: torch.optim.Optimizer
    if optimizer == "adam":
        opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    elif optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)
    else:
        raise ConfigError(f"optimizer should be 'adam' or 'sgd', found {optimizer!r}")
    gen = torch.Generator().manual_seed(seed)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for epoch in range(1, epochs + 1):
        perm = torch.randperm(len(x), generator=gen)
        total, batches = 0.0, 0
        for i in range(0, len(x), batch_size):
            idx = perm[i:i + batch_size]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
            total += float(loss.detach())
            batches += 1
        if report is not None:
            report(epoch, total / max(1, batches))
    model.eval()


def make_train_fn(data: MNISTSplit | None = None, batch_size: int = 64, seed: int = 0,
                  optimizer: str = "adam", weight_decay: float = 0.0) -> TrainFn:
    """A ``train_fn(model, epochs, lr, report)`` on the MNIST training split. Each call uses a
    fresh optimizer and a batch order drawn from torch's global generator (mixed with
    ``seed``): ``compress`` seeds that generator per stage and per pruning round, so a run
    resumed from a checkpoint trains on the same batches as an uninterrupted one (a call
    counter here would restart at zero in the resumed process)."""
    d = data or mnist_split()

    def train_fn(model: nn.Module, epochs: int, lr: float, report: ReportFn | None = None
                 ) -> None:
        draw = int(torch.randint(0, 2**31 - 1, (1,)))
        train_epochs(model, d.x_train, d.y_train, epochs, lr, batch_size,
                     (seed * 1_000_003 + draw) % (2**63 - 1), optimizer, weight_decay, report)

    return train_fn


def make_eval_fn(data: MNISTSplit | None = None) -> EvalFn:
    """An ``eval_fn(model) -> accuracy`` on the MNIST test split."""
    d = data or mnist_split()
    return lambda model: evaluate(model, d.x_test, d.y_test)


def train_reference(name: str, seed: int = 0, epochs: int | None = None,
                    cache_dir: str | os.PathLike[str] | None = None,
                    report: ReportFn | None = None, use_cache: bool = True) -> nn.Module:
    """The trained uncompressed reference of a bundled model (``"lenet300"`` or ``"lenet5"``).

    Trained from scratch on the fixed MNIST split (seconds) the first time, then loaded from
    ``<cache>/<name>-seed<seed>-e<epochs>-v1.pt`` where ``<cache>`` is ``cache_dir``,
    ``$EIE_CACHE_DIR`` or ``~/.cache/eie`` (``eie._io.cache_dir``).
    """
    set_threads()
    n_epochs = REFERENCE_EPOCHS.get(name, 20) if epochs is None else epochs
    torch.manual_seed(seed)
    model = models.build(name)
    folder = _io.cache_dir(cache_dir)
    path = folder / f"{name}-seed{seed}-e{n_epochs}-v{CACHE_VERSION}.pt"
    if use_cache and path.is_file():
        model.load_state_dict(torch.load(path, weights_only=True))
        model.eval()
        return model
    d = mnist_split()
    train_epochs(model, d.x_train, d.y_train, n_epochs, REFERENCE_LR, seed=seed, report=report)
    if use_cache:
        buf = io.BytesIO()
        torch.save(model.state_dict(), buf)
        _io.write_atomic(path, buf.getvalue())
    return model
