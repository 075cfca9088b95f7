"""Weight sharing (trained quantization) for torch layers.

- ``share_weights(w, mask, bits)``: 1-D k-means over a layer's surviving weights. For the EIE
  target (``zero_code=True``, the default) code 0 is reserved for zero and ``2**bits - 1``
  centroids are learned; returns a ``SharedLayer`` (codes in the EIE matrix layout + codebook);
- ``tie_weights(model, shared)`` / ``untie_weights(model, shared)``: replace each weight by
  ``codebook[codes]`` with the nonzero centroids as trainable parameters (a torch
  parametrization), so a backward pass gives each centroid the *sum* of its members' gradients
  (Deep Compression eq. 3) or their mean (``grad="mean"``); assignments stay frozen and pruned
  weights (code 0) stay exactly zero;
- ``finetune_centroids(model, shared, train_fn, epochs, lr)``: tie, train, read the centroids
  back, untie (the weights then equal ``codebook[codes]`` exactly).

>>> import torch
>>> s = share_weights(torch.tensor([[0.0, 1.0, 1.2, -1.0]]), None, bits=2)
>>> s.codes.tolist(), [round(float(v), 2) for v in s.codebook]  # linear init; 0.1 stays empty
([[0, 3, 3, 1]], [0.0, -1.0, 0.1, 1.1])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch
from torch import nn
from torch.nn.utils import parametrize

from eie.compress.kmeans import KMeansResult, kmeans_exact, lloyd
from eie.compress.prune import matrix_view
from eie.compress.train import ReportFn, TrainFn
from eie.errors import CompressionError, ConfigError

ALGORITHMS = ("lloyd", "exact")
GRAD_REDUCTIONS = ("sum", "mean")


@dataclass(frozen=True, eq=False)
class SharedLayer:
    """A weight-shared layer: ``weight = codebook[codes]`` (reshaped to the layer's weight)."""

    codes: npt.NDArray[np.uint8]
    """``(out, in * kh * kw)`` codes; 0 = pruned (codebook[0] == 0)."""
    codebook: npt.NDArray[np.float32]
    """``(2**bits,)`` or fewer entries; entry 0 is 0.0."""
    bits: int
    zero_code: bool = True
    """True: code 0 means zero (the EIE target). False: every code is a learned centroid (a
    dense weight-shared layer; not storable in EIE's format)."""

    def dense(self) -> npt.NDArray[np.float32]:
        return self.codebook[self.codes]


def share_weights(w: torch.Tensor, mask: torch.Tensor | None, bits: int, init: str = "linear",
                  algorithm: str = "lloyd", seed: int = 0, zero_code: bool = True
                  ) -> SharedLayer:
    """Cluster the surviving weights (``mask`` True, or nonzero when ``mask`` is None).

    ``zero_code=False`` clusters every weight (zeros included) into ``2**bits`` centroids with
    no reserved code: weight sharing for a dense target rather than for EIE's format.
    """
    if not 1 <= bits <= 8:
        raise ConfigError(f"codebook bits should be in 1..8 (the EIE format's limit), found {bits}")
    if algorithm not in ALGORITHMS:
        raise ConfigError(f"k-means algorithm should be one of {ALGORITHMS}, found {algorithm!r}")
    mat = matrix_view(w.detach()).double().numpy()
    if not zero_code:
        res_all = lloyd(mat.ravel(), min(1 << bits, mat.size), init, rng=seed) \
            if algorithm == "lloyd" else kmeans_exact(mat.ravel(), min(1 << bits, mat.size))
        return SharedLayer(res_all.labels.reshape(mat.shape).astype(np.uint8),
                           res_all.centroids.astype(np.float32), bits, zero_code=False)
    keep = (mat != 0) if mask is None else matrix_view(mask).numpy().astype(bool)
    keep &= mat != 0  # an exact zero can only be code 0
    values = mat[keep]
    k = (1 << bits) - 1
    if values.size == 0:
        raise CompressionError("cannot share the weights of a layer with no surviving weight; "
                               "raise its density in the recipe")
    k = min(k, int(values.size))
    res: KMeansResult = lloyd(values, k, init, rng=seed) if algorithm == "lloyd" \
        else kmeans_exact(values, k)
    centroids = res.centroids.astype(np.float32)
    # A centroid exactly 0.0 would make its members look pruned; nudge it off zero.
    centroids[centroids == 0.0] = np.float32(np.finfo(np.float32).tiny)
    codes = np.zeros(mat.shape, np.uint8)
    codes[keep] = (res.labels + 1).astype(np.uint8)
    codebook = np.concatenate([[np.float32(0.0)], centroids]).astype(np.float32)
    return SharedLayer(codes, codebook, bits)


class TiedWeight(nn.Module):
    """Parametrization: ``weight = [0, *centroids][codes]`` (or ``centroids[codes]`` without a
    zero code); the original weight is ignored."""

    def __init__(self, codes: torch.Tensor, centroids: torch.Tensor, grad: str = "sum",
                 zero_code: bool = True) -> None:
        super().__init__()
        if grad not in GRAD_REDUCTIONS:
            raise ConfigError(f"centroid gradient should be one of {GRAD_REDUCTIONS}, "
                              f"found {grad!r}")
        self.zero_code = zero_code
        self.register_buffer("codes", codes.long())
        self.centroids = nn.Parameter(centroids.clone().float())
        offset = 1 if zero_code else 0
        counts = torch.bincount(codes.long().reshape(-1),
                                minlength=len(centroids) + offset)[offset:]
        scale = 1.0 / counts.clamp(min=1).float() if grad == "mean" else torch.ones(len(centroids))
        self.register_buffer("grad_scale", scale)

    def forward(self, original: torch.Tensor) -> torch.Tensor:
        c: torch.Tensor = self.centroids
        scale, codes = self.grad_scale, self.codes
        assert isinstance(scale, torch.Tensor) and isinstance(codes, torch.Tensor)
        # Value c, gradient grad_scale * (sum of members' gradients).
        c = c * scale + (c - c * scale).detach()
        table = torch.cat([torch.zeros(1, dtype=c.dtype), c]) if self.zero_code else c
        return table[codes]


def tie_weights(model: nn.Module, shared: dict[str, SharedLayer], grad: str = "sum") -> None:
    """Parametrize every shared layer's weight by its trainable centroids."""
    mods = dict(model.named_modules())
    for name, s in shared.items():
        mod = mods[name]
        w = mod.weight
        assert isinstance(w, torch.Tensor)
        codes = torch.from_numpy(s.codes.astype(np.int64)).reshape(w.shape)
        learned = s.codebook[1:] if s.zero_code else s.codebook
        tied = TiedWeight(codes, torch.from_numpy(learned.copy()), grad, s.zero_code)
        parametrize.register_parametrization(mod, "weight", tied, unsafe=True)


def untie_weights(model: nn.Module, shared: dict[str, SharedLayer]) -> dict[str, SharedLayer]:
    """Read the trained centroids back and bake ``codebook[codes]`` into plain weights."""
    mods = dict(model.named_modules())
    out = {}
    for name, s in shared.items():
        mod = mods[name]
        tied = mod.parametrizations["weight"][0]  # type: ignore[union-attr,index]
        learned = tied.centroids.detach().numpy().astype(np.float32)
        if s.zero_code:
            learned[learned == 0.0] = np.float32(np.finfo(np.float32).tiny)
            cb = np.concatenate([[np.float32(0.0)], learned]).astype(np.float32)
        else:
            cb = learned
        parametrize.remove_parametrizations(mod, "weight", leave_parametrized=False)
        out[name] = SharedLayer(s.codes, cb, s.bits, s.zero_code)
    apply_shared(model, out)
    return out


def apply_shared(model: nn.Module, shared: dict[str, SharedLayer]) -> None:
    """Set each shared layer's weight to exactly ``codebook[codes]``."""
    mods = dict(model.named_modules())
    with torch.no_grad():
        for name, s in shared.items():
            w = mods[name].weight
            assert isinstance(w, torch.Tensor)
            w.copy_(torch.from_numpy(s.dense()).reshape(w.shape))


def finetune_centroids(model: nn.Module, shared: dict[str, SharedLayer], train_fn: TrainFn,
                       epochs: int, lr: float, grad: str = "sum",
                       report: ReportFn | None = None) -> dict[str, SharedLayer]:
    """Retrain the centroids (assignments frozen, pruned weights zero); returns new codebooks."""
    if epochs <= 0:
        apply_shared(model, shared)
        return shared
    tie_weights(model, shared, grad)
    try:
        train_fn(model, epochs, lr, report)
    finally:
        new = untie_weights(model, shared)
    return new
