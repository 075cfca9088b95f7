"""Pruning masks (torch): magnitude, Han's rule, global, N:M, block, load-balance-aware.

Every function takes a weight tensor and returns a bool mask of the same shape (True = kept).
Weights are seen as EIE matrices: ``(out, in)`` for a Linear layer, ``(out, in * kh * kw)`` for a
convolution (``matrix_view``), so "inputs" are the matrix columns and "rows" its outputs.

- ``magnitude_mask(w, density=0.1)`` keeps exactly ``round(density * size)`` largest ``|w|``;
  ``magnitude_mask(w, quality=q)`` is Han's rule: keep ``|w| > q * std(w)``;
- ``global_magnitude_masks({name: w}, density)``: one threshold across all layers;
- ``nm_mask(w, n, m)``: N largest of every M consecutive inputs (2:4, 4:8, ...);
- ``block_mask(w, (r, c), density)``: whole r x c blocks by L2 norm;
- ``balanced_mask(w, density, num_pes)``: magnitude pruning within each PE's row slice (row
  ``i`` on PE ``i % num_pes``) so every PE keeps the same number of weights, within one;
- ``MaskEnforcer``: keeps pruned weights exactly zero through every optimizer step.

>>> import torch
>>> nm_mask(torch.tensor([[1.0, -3.0, 2.0, 0.5]]), 2, 4).tolist()
[[False, True, True, False]]
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any

import torch
from torch.optim.optimizer import register_optimizer_step_post_hook

from eie.errors import CompressionError, ConfigError


def matrix_view(w: torch.Tensor) -> torch.Tensor:
    """The EIE matrix of a weight: ``(out, prod(rest))``."""
    return w.reshape(w.shape[0], -1)


def _check_density(density: float) -> None:
    if not 0.0 < float(density) <= 1.0:
        raise ConfigError(f"density should be in (0, 1], found {density}")


def _topk_mask(score: torch.Tensor, keep: int) -> torch.Tensor:
    flat = score.reshape(-1)
    mask = torch.zeros(flat.numel(), dtype=torch.bool)
    if keep > 0:
        mask[torch.topk(flat, keep, sorted=False).indices] = True
    return mask.reshape(score.shape)


def magnitude_mask(w: torch.Tensor, density: float | None = None,
                   quality: float | None = None) -> torch.Tensor:
    """Keep the largest-magnitude weights: ``density`` (fraction kept, exact count) or Han's
    ``quality`` (threshold ``quality * std(w)``). Exactly one of the two must be given."""
    if (density is None) == (quality is None):
        raise ConfigError("give exactly one of density (fraction kept) or quality "
                          f"(threshold = quality x std), found density={density}, "
                          f"quality={quality}")
    a = w.detach().abs()
    if quality is not None:
        if quality < 0:
            raise ConfigError(f"quality should be >= 0, found {quality}")
        return a > quality * float(w.detach().float().std())
    assert density is not None
    _check_density(density)
    return _topk_mask(a, round(density * a.numel()))


def global_magnitude_masks(weights: Mapping[str, torch.Tensor], density: float
                           ) -> dict[str, torch.Tensor]:
    """One magnitude threshold across all layers, keeping ``density`` of all weights."""
    _check_density(density)
    flat = torch.cat([w.detach().abs().reshape(-1) for w in weights.values()])
    keep = round(density * flat.numel())
    if keep == 0:
        return {k: torch.zeros_like(w, dtype=torch.bool) for k, w in weights.items()}
    mask = _topk_mask(flat, keep)
    out, pos = {}, 0
    for name, w in weights.items():
        out[name] = mask[pos:pos + w.numel()].reshape(w.shape)
        pos += w.numel()
    return out


def nm_mask(w: torch.Tensor, n: int, m: int) -> torch.Tensor:
    """Keep the ``n`` largest ``|w|`` of every ``m`` consecutive inputs of each row."""
    if not 1 <= n <= m:
        raise ConfigError(f"N:M pruning needs 1 <= N <= M, found {n}:{m}")
    mat = matrix_view(w.detach().abs())
    rows, cols = mat.shape
    if cols % m:
        raise CompressionError(f"N:M pruning needs the input size to be a multiple of M={m}, "
                               f"found {cols} inputs; use another M or block pruning")
    groups = mat.reshape(rows, cols // m, m)
    idx = torch.topk(groups, n, dim=-1, sorted=False).indices
    mask = torch.zeros_like(groups, dtype=torch.bool).scatter_(-1, idx, True)
    return mask.reshape(w.shape)


def block_mask(w: torch.Tensor, block: tuple[int, int], density: float) -> torch.Tensor:
    """Keep the ``round(density * blocks)`` r x c blocks of largest L2 norm (edges padded)."""
    _check_density(density)
    r, c = (int(v) for v in block)
    if r < 1 or c < 1:
        raise ConfigError(f"block should be two positive sizes (rows, cols), found {block}")
    mat = matrix_view(w.detach())
    rows, cols = mat.shape
    br, bc = math.ceil(rows / r), math.ceil(cols / c)
    padded = torch.zeros(br * r, bc * c, dtype=mat.dtype)
    padded[:rows, :cols] = mat
    norms = padded.reshape(br, r, bc, c).pow(2).sum(dim=(1, 3))  # (br, bc)
    keep = _topk_mask(norms, round(density * norms.numel()))
    full = keep.repeat_interleave(r, 0).repeat_interleave(c, 1)[:rows, :cols]
    return full.reshape(w.shape)


def balanced_mask(w: torch.Tensor, density: float, num_pes: int) -> torch.Tensor:
    """Magnitude pruning per PE slice: ``round(density * size)`` weights split as evenly as
    possible over the ``num_pes`` row slices (row i on PE i % num_pes)."""
    _check_density(density)
    if num_pes < 1:
        raise ConfigError(f"num_pes should be >= 1, found {num_pes}")
    mat = matrix_view(w.detach().abs())
    rows, cols = mat.shape
    total = round(density * mat.numel())
    mask = torch.zeros_like(mat, dtype=torch.bool)
    active = min(num_pes, rows)  # PEs that hold at least one row
    if active == 0:
        return mask.reshape(w.shape)
    quota = [total // active + (1 if k < total % active else 0) for k in range(active)]
    for k in range(active):
        sl = mat[k::num_pes]
        if quota[k] > sl.numel():
            raise CompressionError(
                f"cannot keep {total} weights evenly over {active} PEs for a {rows}x{cols} "
                f"matrix: PE {k} holds only {sl.numel()} weights but needs {quota[k]}; use "
                "fewer PEs or a lower density")
        mask[k::num_pes] = _topk_mask(sl, quota[k])
    return mask.reshape(w.shape)


def iterative_densities(target: float, rounds: int, start: float = 1.0) -> list[float]:
    """Densities of an iterative schedule: geometric from ``start`` to ``target`` over
    ``rounds`` rounds (the last one is exactly ``target``).

    >>> [round(d, 4) for d in iterative_densities(0.01, 2)]
    [0.1, 0.01]
    """
    _check_density(target)
    if rounds < 1:
        raise ConfigError(f"rounds should be >= 1, found {rounds}")
    return [start * (target / start) ** ((r + 1) / rounds) for r in range(rounds)]


def polynomial_densities(target: float, rounds: int, start: float = 1.0, power: float = 3.0
                         ) -> list[float]:
    """Densities of TF-MOT's / torch.ao's polynomial decay over ``rounds`` rounds: sparsity
    ``s_f + (s_i - s_f) * (1 - r / rounds) ** power`` after round ``r`` (1-based), so most
    weights go early and the last rounds prune gently; the last one is exactly ``target``.

    >>> [round(d, 4) for d in polynomial_densities(0.1, 3)]
    [0.3667, 0.1333, 0.1]
    """
    _check_density(target)
    if rounds < 1:
        raise ConfigError(f"rounds should be >= 1, found {rounds}")
    s_i, s_f = 1.0 - start, 1.0 - target
    return [1.0 - (s_f + (s_i - s_f) * (1.0 - (r + 1) / rounds) ** power)
            for r in range(rounds)]


class MaskEnforcer:
    """While active, pruned weights stay exactly zero through every optimizer step.

    It zeroes the gradients of pruned weights (a tensor hook) and, after every ``step()`` of
    any torch optimizer (a global post-step hook), re-applies the masks to the weights and to
    every same-shaped state tensor of that optimizer (momentum, Adam moments), so weight
    decay and momentum cannot revive a pruned weight, whatever optimizer ``train_fn`` builds.

    >>> import torch
    >>> lin = torch.nn.Linear(2, 1)
    >>> mask = torch.tensor([[True, False]])
    >>> with MaskEnforcer([(lin.weight, mask)]):
    ...     opt = torch.optim.SGD(lin.parameters(), lr=0.1, momentum=0.9, weight_decay=0.1)
    ...     lin(torch.ones(1, 2)).sum().backward(); opt.step()
    >>> float(lin.weight[0, 1].detach())
    0.0
    """

    def __init__(self, pairs: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> None:
        self.pairs = [(p, ~m.to(torch.bool)) for p, m in pairs]  # (param, pruned)
        self._handles: list[Any] = []

    def apply(self) -> None:
        with torch.no_grad():
            for p, pruned in self.pairs:
                p.masked_fill_(pruned, 0.0)

    def _post_step(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        with torch.no_grad():
            for p, pruned in self.pairs:
                state = optimizer.state.get(p)
                if state:
                    for v in state.values():
                        if isinstance(v, torch.Tensor) and v.shape == p.shape:
                            v.masked_fill_(pruned, 0.0)
                p.masked_fill_(pruned, 0.0)

    def __enter__(self) -> MaskEnforcer:
        self.apply()
        for p, pruned in self.pairs:
            self._handles.append(p.register_hook(lambda g, m=pruned: g.masked_fill(m, 0.0)))
        self._handles.append(
            register_optimizer_step_post_hook(self._post_step))
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()
