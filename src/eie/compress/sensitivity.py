"""Pruning sensitivity: prune one layer at a time (no retraining) and record the accuracy.

``scan(model, eval_fn)`` returns, for every compressible layer, the accuracy at each density of
``DEFAULT_DENSITIES`` with all other layers dense (Deep Compression Figure 6 / Learning both
Weights and Connections Figure 5). ``pick_densities(result, max_drop)`` turns the curves into
per-layer densities: the lowest density whose accuracy drop stays within ``max_drop``.
``eie.report.sensitivity.plot_sensitivity(result, path)`` draws the curves.

>>> import torch
>>> from eie.compress.models import LeNet300
>>> r = scan(LeNet300(), lambda m: 0.5, densities=(1.0, 0.5))
>>> r.curves["fc1"]
[(1.0, 0.5), (0.5, 0.5)]
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from eie.compress.models import compressible_layers
from eie.compress.prune import magnitude_mask
from eie.compress.train import EvalFn
from eie.errors import ConfigError

DEFAULT_DENSITIES = (1.0, 0.7, 0.5, 0.3, 0.2, 0.1, 0.07, 0.05, 0.03, 0.02, 0.01)


@dataclass(frozen=True)
class SensitivityResult:
    reference_accuracy: float
    curves: dict[str, list[tuple[float, float]]]
    """layer -> [(density, accuracy), ...] in the order scanned."""

    def to_json(self) -> dict[str, object]:
        return {"reference_accuracy": self.reference_accuracy,
                "layers": {k: [{"density": d, "accuracy": a} for d, a in v]
                           for k, v in self.curves.items()}}


def scan(model: nn.Module, eval_fn: EvalFn, densities: Sequence[float] = DEFAULT_DENSITIES,
         layers: Sequence[str] | None = None,
         progress: Callable[[str, float, float], None] | None = None) -> SensitivityResult:
    """Accuracy with one layer magnitude-pruned to each density, the others untouched."""
    for d in densities:
        if not 0.0 < d <= 1.0:
            raise ConfigError(f"densities should be in (0, 1], found {d}")
    work = copy.deepcopy(model).eval()
    mods = dict(compressible_layers(work))
    names = list(mods) if layers is None else list(layers)
    unknown = sorted(set(names) - set(mods))
    if unknown:
        raise ConfigError(f"unknown layers {unknown}; the model's layers are {list(mods)}")
    ref = float(eval_fn(work))
    curves: dict[str, list[tuple[float, float]]] = {}
    for name in names:
        w = mods[name].weight
        assert isinstance(w, torch.Tensor)
        original = w.detach().clone()
        curve = []
        for d in densities:
            with torch.no_grad():
                w.copy_(original * magnitude_mask(original, density=d))
            acc = float(eval_fn(work))
            curve.append((float(d), acc))
            if progress:
                progress(name, float(d), acc)
        with torch.no_grad():
            w.copy_(original)
        curves[name] = curve
    return SensitivityResult(ref, curves)


def pick_densities(result: SensitivityResult, max_drop: float = 0.005) -> dict[str, float]:
    """Per layer, the lowest scanned density whose accuracy is within ``max_drop`` (a fraction,
    0.005 = half a point) of the reference."""
    out = {}
    for name, curve in result.curves.items():
        ok = [d for d, a in curve if result.reference_accuracy - a <= max_drop]
        out[name] = min(ok) if ok else 1.0
    return out
