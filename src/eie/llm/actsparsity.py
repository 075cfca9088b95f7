"""Activation sparsity (TEAL-style, training-free): zero each Linear input entry whose magnitude
is below that layer's threshold; thresholds are the ``S``-quantile of |x| of the layer's inputs
over a calibration text, so each layer drops a fraction ``S`` of its input entries on text like it.

Here the zeroing runs in torch (forward pre-hooks) to measure quality; skipping the zeros is the
engine's job (EIE's zero-activation skipping).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np

from eie.errors import ConfigError


class Thresholds(dict[str, Any]):
    """Thresholds by model Linear name (numbers, or per-column vectors), and ``levels``: the
    fraction of each Linear's input entries they zero on the calibration text, which the runtime
    reads to keep a Linear on its default layout where skipping that few zeros does not pay
    (``eie.llm.runtime.Runtime.set_act_sparsity``)."""

    def __init__(self, limits: Mapping[str, Any], levels: Mapping[str, float]) -> None:
        super().__init__(limits)
        self.levels = dict(levels)


def thresholds(abs_samples: dict[str, np.ndarray], sparsity: float) -> Thresholds:
    if not 0.0 <= sparsity < 1.0:
        raise ConfigError(f"--act-sparsity should be in [0, 1), found {sparsity}")
    limits = {n: float(np.quantile(s, sparsity)) if sparsity > 0 else 0.0
              for n, s in abs_samples.items() if s.size}
    return Thresholds(limits, {n: sparsity for n in limits})


@contextmanager
def sparse_activations(model: Any, limits: Mapping[str, float | np.ndarray]
                       ) -> Iterator[dict[str, list[int]]]:
    """Within the block, Linear inputs with |x| < limit are zeroed (a limit is a number, or one
    per input column: ``eie.llm.actalloc``'s weight-informed thresholds). Yields counters
    ``{name: [zeroed, total]}`` (the realised sparsity)."""
    import torch

    from eie.llm.calibrate import linear_modules

    linears = linear_modules(model)
    counts: dict[str, list[int]] = {n: [0, 0] for n in limits if n in linears}

    def hook(name: str, limit: float | np.ndarray) -> Any:
        lim = torch.as_tensor(limit, dtype=torch.float32)

        def fn(_m: Any, inputs: tuple[Any, ...]) -> tuple[Any, ...]:
            x = inputs[0]
            keep = x.abs() >= lim
            c = counts[name]
            c[0] += int((~keep).sum())
            c[1] += keep.numel()
            return (x * keep, *inputs[1:])
        return fn

    handles = [linears[n].register_forward_pre_hook(hook(n, t)) for n, t in limits.items()
               if n in linears and np.any(np.asarray(t) > 0)]
    try:
        yield counts
    finally:
        for h in handles:
            h.remove()


def realised(counts: dict[str, list[int]]) -> float:
    z = sum(c[0] for c in counts.values())
    t = sum(c[1] for c in counts.values())
    return z / t if t else 0.0
