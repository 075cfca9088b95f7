"""Pruning methods: one frozen config class per method and a registry of their handlers.

A prune stage (``eie.compress.recipe.PruneStage``) says *how much* and *when* (density, rounds,
schedule, retraining); its ``method`` field holds one of these configs, which says *which*
weights go. Each config class is registered with the handler that computes the masks of one
pruning round (the pattern of torchao's quantization configs and their module handlers), so a
new method is a new config class plus one ``@register_prune_handler`` function, and nothing
dispatches on a method name.

- ``MagnitudePruning(quality=None, scope="layer")``: the smallest-magnitude weights (Deep
  Compression), per layer or with one global threshold, or Han's rule (quality x std);
- ``NMPruning(n=2, m=4)``: N of every M consecutive inputs of a row (the density is N / M);
- ``BlockPruning(block_rows=4, block_cols=4)``: whole blocks by their L2 norm;
- ``BalancedPruning(num_pes=None)``: the same count per EIE PE slice (load-balance aware).

In a recipe file the method's fields sit beside the stage's own (``method: nm``, ``n: 2``).

>>> PRUNE_METHODS["nm"](n=2, m=4).density
0.5
>>> sorted(PRUNE_METHODS)
['balanced', 'block', 'magnitude', 'nm']
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar, TypeVar

import torch

from eie.compress import prune as P
from eie.errors import CompressionError, ConfigError

PRUNE_SCOPES = ("layer", "global")


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise ConfigError(msg)


@dataclass(frozen=True)
class MagnitudePruning:
    """Keep the largest-magnitude weights: each layer to its density (``scope="layer"``), or
    one threshold across every pruned layer (``scope="global"``); or, with ``quality``, Han's
    rule: threshold = quality x std of the layer's weights."""

    name: ClassVar[str] = "magnitude"
    needs_target: ClassVar[bool] = True
    quality: float | None = None
    """Han's rule instead of a density: threshold = quality x std."""
    scope: str = "layer"
    """``"layer"``: each layer keeps ``density``; ``"global"``: one threshold across layers."""

    def __post_init__(self) -> None:
        _check(self.scope in PRUNE_SCOPES,
               f"prune scope should be one of {PRUNE_SCOPES}, found {self.scope!r}")


@dataclass(frozen=True)
class NMPruning:
    """N:M: the N largest-magnitude weights of every M consecutive inputs of a row."""

    name: ClassVar[str] = "nm"
    needs_target: ClassVar[bool] = False  # N / M is the density
    n: int = 2
    """N of N:M: the N largest-magnitude weights are kept in every group of M (N nonzeros of
    every M consecutive inputs of a row; 2:4 keeps half)."""
    m: int = 4
    """M of N:M: the group size, consecutive inputs (matrix columns) of one row."""

    def __post_init__(self) -> None:
        _check(1 <= self.n <= self.m, f"N:M needs 1 <= n <= m, found {self.n}:{self.m}")

    @property
    def density(self) -> float:
        return self.n / self.m


@dataclass(frozen=True)
class BlockPruning:
    """Whole ``block_rows x block_cols`` blocks, the smallest L2 norms first."""

    name: ClassVar[str] = "block"
    needs_target: ClassVar[bool] = True
    block_rows: int = 4
    block_cols: int = 4

    def __post_init__(self) -> None:
        _check(self.block_rows >= 1 and self.block_cols >= 1, "block sizes should be >= 1")


@dataclass(frozen=True)
class BalancedPruning:
    """Load-balance-aware pruning: every PE's slice (rows i % num_pes) keeps the same count."""

    name: ClassVar[str] = "balanced"
    needs_target: ClassVar[bool] = True
    num_pes: int | None = None
    """PE count for load-balance-aware pruning (default: the recipe's ``num_pes``)."""

    def __post_init__(self) -> None:
        _check(self.num_pes is None or (type(self.num_pes) is int and 1 <= self.num_pes <= 4096),
               f"num_pes should be None or in 1..4096, found {self.num_pes!r}")


PruneMethod = MagnitudePruning | NMPruning | BlockPruning | BalancedPruning
PRUNE_METHODS: dict[str, type[PruneMethod]] = {
    c.name: c for c in (MagnitudePruning, NMPruning, BlockPruning, BalancedPruning)}
"""Method name (the recipe's ``method:``) -> config class."""


@dataclass(frozen=True)
class PruneRound:
    """What one pruning round asks of a method."""

    weights: Mapping[str, torch.Tensor]
    """The layers pruned in this round, by name (their current weights)."""
    density: Callable[[str], float | None]
    """A layer's scheduled density for this round (None: no density, Han's rule only);
    computed on demand (the global scope schedules the layers together instead)."""
    qualities: Mapping[str, float | None]
    """Each layer's Han's-rule quality for this round (None: not used)."""
    global_density: Callable[[], float]
    """The scheduled density over all pruned layers together (global scope)."""
    num_pes: int
    """The recipe's PE count."""


Handler = Callable[[PruneMethod, PruneRound], dict[str, torch.Tensor]]
_HANDLERS: dict[type, Handler] = {}
C = TypeVar("C")


def register_prune_handler(config_cls: type[C]) -> Callable[[Callable[[C, PruneRound], dict[
        str, torch.Tensor]]], Callable[[C, PruneRound], dict[str, torch.Tensor]]]:
    """Register ``fn(config, round) -> {layer: bool mask}`` as the handler of ``config_cls``."""
    def register(fn: Callable[[C, PruneRound], dict[str, torch.Tensor]]
                 ) -> Callable[[C, PruneRound], dict[str, torch.Tensor]]:
        _HANDLERS[config_cls] = fn  # type: ignore[assignment]
        return fn
    return register


def prune_masks(method: PruneMethod, r: PruneRound) -> dict[str, torch.Tensor]:
    """The masks of one round: the handler registered for ``type(method)``."""
    handler = _HANDLERS.get(type(method))
    if handler is None:
        raise CompressionError(f"no prune handler is registered for {type(method).__name__}")
    return handler(method, r)


@register_prune_handler(MagnitudePruning)
def _magnitude(cfg: MagnitudePruning, r: PruneRound) -> dict[str, torch.Tensor]:
    if cfg.scope == "global":
        return P.global_magnitude_masks(r.weights, r.global_density())
    return {n: P.magnitude_mask(w, r.density(n), r.qualities[n]) for n, w in r.weights.items()}


@register_prune_handler(NMPruning)
def _nm(cfg: NMPruning, r: PruneRound) -> dict[str, torch.Tensor]:
    return {n: P.nm_mask(w, cfg.n, cfg.m) for n, w in r.weights.items()}


@register_prune_handler(BlockPruning)
def _block(cfg: BlockPruning, r: PruneRound) -> dict[str, torch.Tensor]:
    return {n: P.block_mask(w, (cfg.block_rows, cfg.block_cols), _or_dense(r.density(n)))
            for n, w in r.weights.items()}


@register_prune_handler(BalancedPruning)
def _balanced(cfg: BalancedPruning, r: PruneRound) -> dict[str, torch.Tensor]:
    return {n: P.balanced_mask(w, _or_dense(r.density(n)), cfg.num_pes or r.num_pes)
            for n, w in r.weights.items()}


def _or_dense(density: float | None) -> float:
    return 1.0 if density is None else density
