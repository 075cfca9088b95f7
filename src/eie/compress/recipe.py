"""Compression recipes: frozen dataclasses, loadable from YAML or TOML, unknown keys rejected.

A recipe is an ordered list of stages plus layout options::

    name: lenet300-paper
    num_pes: 1            # PE count of the saved layout (1 = Deep Compression's accounting)
    index_bits: 5         # relative-index width; per layer in layer_index_bits
    seed: 0
    stages:
      - kind: prune
        method: magnitude # or nm (n, m), block (block_rows, block_cols), balanced (num_pes):
                          # one config class each in eie.compress.prune_methods
        density: 0.1
        rounds: 3         # prune -> retrain (masks enforced) -> prune further
        epochs: 4         # retraining epochs per round
        lr: 0.0005
        layers: {fc3: {density: 0.26}}   # or sparsity: 0.74 (fraction removed)
        schedule: geometric   # or polynomial (TF-MOT / torch.ao), with power: 3
      - kind: quantize    # per-layer k-means, code 0 = zero, then centroid fine-tuning
        bits: 5
        init: linear      # linear | density | random | kmeans++
        epochs: 4
        layers: {fc1: {bits: 6}, fc3: {skip: true}}
      - kind: huffman

``Recipe.from_dict`` / ``load_recipe(path)`` raise ``ConfigError`` naming the offending key, the
expected keys and the file; ``Recipe.to_dict`` round-trips.

>>> r = Recipe.from_dict({"name": "r", "stages": [{"kind": "prune", "density": 0.1}]})
>>> r.stages[0].density, r.num_pes
(0.1, 1)
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from eie._config import from_mapping, loader, read_mapping
from eie.compress.kmeans import INITS
from eie.compress.prune_methods import (
    PRUNE_METHODS,
    PRUNE_SCOPES,
    BalancedPruning,
    BlockPruning,
    MagnitudePruning,
    NMPruning,
    PruneMethod,
)
from eie.compress.share import ALGORITHMS, GRAD_REDUCTIONS
from eie.errors import ConfigError

PRUNE_SCHEDULES = ("geometric", "polynomial")
__all__ = ["PRUNE_METHODS", "PRUNE_SCHEDULES", "PRUNE_SCOPES", "BalancedPruning", "BlockPruning",
           "HuffmanStage", "MagnitudePruning", "NMPruning", "PruneLayer", "PruneMethod",
           "PruneStage", "QuantizeLayer", "QuantizeStage", "Recipe", "Stage", "load_recipe"]


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise ConfigError(msg)


def _sparsity_to_density(obj: Any, where: str) -> None:
    """``sparsity`` (fraction removed, as torch's ``amount``, TF-MOT's ``final_sparsity`` and
    coremltools' ``target_sparsity``) is stored as ``density = 1 - sparsity`` (fraction kept)."""
    if obj.sparsity is None:
        return
    _check(obj.density is None, f"{where}: give density (fraction kept) or sparsity (fraction "
                                f"removed), not both; found density={obj.density}, "
                                f"sparsity={obj.sparsity}")
    _check(0.0 <= obj.sparsity < 1.0, f"{where}: sparsity should be in [0, 1), found "
                                      f"{obj.sparsity}")
    object.__setattr__(obj, "density", 1.0 - float(obj.sparsity))
    object.__setattr__(obj, "sparsity", None)


@dataclass(frozen=True)
class PruneLayer:
    """Per-layer override of a prune stage."""

    density: float | None = None
    """Fraction of weights kept in this layer."""
    sparsity: float | None = None
    """Fraction of weights removed (``1 - density``); give one of the two."""
    quality: float | None = None
    """Han's rule for this layer: threshold = quality x std of the layer's weights."""
    skip: bool = False
    """Leave this layer dense."""

    def __post_init__(self) -> None:
        _sparsity_to_density(self, "prune layer")


def _layer_settings(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value or {}, Mapping):
        raise ConfigError(f"{where}: layers should map layer names to settings, found {value!r}")
    return value or {}


def _load_prune_layers(value: Any, where: str) -> dict[str, PruneLayer]:
    return {str(k): from_mapping(PruneLayer, v, f"{where} layer {k!r}")
            for k, v in _layer_settings(value, where).items()}


@dataclass(frozen=True)
class PruneStage:
    """Prune -> retrain rounds to a target density; ``method`` says which weights go (one
    config per method, ``eie.compress.prune_methods``)."""

    kind: str = "prune"
    name: str = "prune"
    method: PruneMethod = field(default_factory=MagnitudePruning)
    """``MagnitudePruning()`` (the default), ``NMPruning(n, m)``, ``BlockPruning(rows, cols)``
    or ``BalancedPruning(num_pes)``; in a recipe file ``method: <name>`` with the method's
    fields beside the stage's."""
    density: float | None = None
    """Target fraction of weights kept (every layer unless overridden)."""
    sparsity: float | None = None
    """Target fraction of weights removed, ``1 - density`` (the name torch's ``amount``,
    TF-MOT's ``final_sparsity`` and coremltools' ``target_sparsity`` use); give one of the two."""
    rounds: int = 1
    """Prune -> retrain rounds; densities follow ``schedule`` to the target."""
    schedule: str = "geometric"
    """``"geometric"``: density after round r is ``start * (target / start) ** (r / rounds)``
    (Han's iterative pruning); ``"polynomial"``: TF-MOT's / torch.ao's polynomial decay,
    sparsity after round r is ``s_f + (s_i - s_f) * (1 - r / rounds) ** power``."""
    power: float = 3.0
    """Exponent of the polynomial schedule (3, as TF-MOT's ``PolynomialDecay``)."""
    epochs: int = 0
    """Retraining epochs after each round (masks enforced)."""
    lr: float = 1e-3
    layers: Mapping[str, PruneLayer] = field(default_factory=dict,
                                             metadata=loader(_load_prune_layers))

    def __post_init__(self) -> None:
        _check(isinstance(self.method, tuple(PRUNE_METHODS.values())),
               f"prune method should be one of {[c.__name__ for c in PRUNE_METHODS.values()]}, "
               f"found {self.method!r}")
        _sparsity_to_density(self, f"prune stage {self.name!r}")
        _check(self.schedule in PRUNE_SCHEDULES,
               f"prune schedule should be one of {PRUNE_SCHEDULES}, found {self.schedule!r}")
        _check(self.power > 0, f"schedule power should be > 0, found {self.power}")
        magnitude = isinstance(self.method, MagnitudePruning)
        if self.method.needs_target:
            _check(self.density is not None or self.quality is not None
                   or (all(v.density is not None or v.quality is not None or v.skip
                          for v in self.layers.values()) and bool(self.layers)),
                   f"prune stage {self.name!r} needs a density or a quality (Han's rule)")
        _check(magnitude or all(v.quality is None for v in self.layers.values()),
               "quality (Han's rule) only applies to method 'magnitude'")
        for d in [self.density, *(v.density for v in self.layers.values())]:
            _check(d is None or 0.0 < d <= 1.0, f"density should be in (0, 1], found {d}")
        _check(self.rounds >= 1, f"rounds should be >= 1, found {self.rounds}")
        _check(self.epochs >= 0, f"epochs should be >= 0, found {self.epochs}")
        _check(self.lr > 0, f"lr should be > 0, found {self.lr}")

    @property
    def quality(self) -> float | None:
        """The stage's Han's-rule quality (magnitude pruning only), or None."""
        return self.method.quality if isinstance(self.method, MagnitudePruning) else None

    @classmethod
    def from_dict(cls, data: Any, where: str = "prune stage") -> PruneStage:
        """The flat file form: ``method: <name>`` and that method's fields among the stage's;
        a key of another method raises."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"{where}: expected a mapping of PruneStage fields, found "
                              f"{type(data).__name__}")
        name = data.get("method", MagnitudePruning.name)
        mcls = PRUNE_METHODS.get(name) if isinstance(name, str) else None
        if mcls is None:
            raise ConfigError(f"{where}: prune method should be one of {sorted(PRUNE_METHODS)}, "
                              f"found {name!r}")
        own = {f.name for f in dataclasses.fields(mcls)}
        stage = {f.name for f in dataclasses.fields(cls)} - {"method"}
        unknown = sorted(str(k) for k in data if k not in own | stage | {"method"})
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {unknown} for a {name!r} prune stage; "
                              f"expected some of {sorted(own | stage | {'method'})}; fix or "
                              "remove them")
        method = from_mapping(mcls, {k: v for k, v in data.items() if k in own}, where)
        rest = {k: v for k, v in data.items() if k in stage}
        return from_mapping(cls, {**rest, "method": method}, where)

    def to_dict(self) -> dict[str, Any]:
        """The flat file form (``from_dict`` reads it back)."""
        out = dataclasses.asdict(self)
        out["method"] = self.method.name
        out.update(dataclasses.asdict(self.method))
        return out


@dataclass(frozen=True)
class QuantizeLayer:
    """Per-layer override of a quantize stage."""

    bits: int | None = None
    init: str | None = None
    skip: bool = False
    """Leave this layer unquantized (float): it is then not stored in the ``.eie`` file and
    stays in torch (``eie.engine.torch.swap`` runs the stored layers around it)."""


@dataclass(frozen=True)
class QuantizeStage:
    kind: str = "quantize"
    name: str = "quantize"
    bits: int = 4
    """Codebook bits (2..8); with the EIE target 2**bits - 1 centroids plus code 0 = zero."""
    init: str = "linear"
    """Centroid initialization, one of ``INITS``."""
    algorithm: str = "lloyd"
    """``"lloyd"`` (Deep Compression) or ``"exact"`` (dynamic programming, global optimum)."""
    epochs: int = 0
    """Centroid fine-tuning epochs."""
    lr: float = 1e-4
    grad: str = "sum"
    """Centroid gradient: ``"sum"`` of members' gradients (the paper) or ``"mean"``."""
    layers: Mapping[str, QuantizeLayer] = field(
        default_factory=dict, metadata=loader(lambda value, where: {
            str(k): from_mapping(QuantizeLayer, v, f"{where} layer {k!r}")
            for k, v in _layer_settings(value, where).items()}))

    def __post_init__(self) -> None:
        for b in [self.bits, *(v.bits for v in self.layers.values())]:
            _check(b is None or 2 <= b <= 8, f"codebook bits should be in 2..8, found {b}")
        for i in [self.init, *(v.init for v in self.layers.values())]:
            _check(i is None or i in INITS, f"centroid init should be one of {INITS}, "
                   f"found {i!r}")
        _check(self.algorithm in ALGORITHMS,
               f"algorithm should be one of {ALGORITHMS}, found {self.algorithm!r}")
        _check(self.grad in GRAD_REDUCTIONS,
               f"grad should be one of {GRAD_REDUCTIONS}, found {self.grad!r}")
        _check(self.epochs >= 0, f"epochs should be >= 0, found {self.epochs}")
        _check(self.lr > 0, f"lr should be > 0, found {self.lr}")

    @classmethod
    def from_dict(cls, data: Any, where: str = "quantize stage") -> QuantizeStage:
        return from_mapping(cls, data, where)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class HuffmanStage:
    """Report the storage with Huffman-coded codes and indices (the model is unchanged)."""

    kind: str = "huffman"
    name: str = "huffman"

    @classmethod
    def from_dict(cls, data: Any, where: str = "huffman stage") -> HuffmanStage:
        return from_mapping(cls, data, where)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


Stage = PruneStage | QuantizeStage | HuffmanStage
STAGE_KINDS: dict[str, type[Stage]] = {"prune": PruneStage, "quantize": QuantizeStage,
                                       "huffman": HuffmanStage}


def _load_stages(value: Any, where: str) -> tuple[Stage, ...]:
    """Each stage by its ``kind`` (the registry ``STAGE_KINDS``)."""
    if not isinstance(value, list | tuple):
        raise ConfigError(f"{where}: stages should be a list of stages with kind one of "
                          f"{sorted(STAGE_KINDS)}, found {value!r}")
    stages = []
    for i, raw in enumerate(value):
        kind = raw.get("kind") if isinstance(raw, Mapping) else raw
        if not isinstance(kind, str) or kind not in STAGE_KINDS:  # (a list is unhashable)
            raise ConfigError(f"{where}: stage {i} should have kind one of "
                              f"{sorted(STAGE_KINDS)}, found {kind!r}")
        stages.append(STAGE_KINDS[kind].from_dict(raw, f"{where}: stage {i}"))
    return tuple(stages)


@dataclass(frozen=True)
class Recipe:
    name: str = "recipe"
    stages: tuple[Stage, ...] = field(default=(), metadata=loader(_load_stages))
    num_pes: int = 1
    """PE count of the saved layout (1 = one CSC per layer, Deep Compression's accounting)."""
    index_bits: int = 4
    """Relative-index bits of every layer unless overridden in ``layer_index_bits``."""
    layer_index_bits: Mapping[str, int] = field(default_factory=dict)
    seed: int = 0
    """Seeds every stage (stage i uses seed * 1000 + i), so a resumed run is identical."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "stages", tuple(self.stages))
        _check(bool(self.stages), f"recipe {self.name!r} should have at least one stage")
        _check(1 <= self.num_pes <= 4096, f"num_pes should be in 1..4096, found {self.num_pes}")
        for b in [self.index_bits, *self.layer_index_bits.values()]:
            _check(1 <= b <= 8, f"index_bits should be in 1..8, found {b}")
        kinds = [s.kind for s in self.stages]
        _check(kinds.count("quantize") <= 1, "a recipe may have at most one quantize stage")
        if "quantize" in kinds:
            q = kinds.index("quantize")
            _check("prune" not in kinds[q:], "prune stages must come before the quantize stage")
        if "huffman" in kinds:
            _check("quantize" in kinds[:kinds.index("huffman")],
                   "the huffman stage needs a quantize stage before it")

    def one_shot(self) -> Recipe:
        """This recipe without retraining: every stage's ``epochs`` set to 0 (prune and
        quantize from the weights alone; the data is only used to measure)."""
        stages = tuple(s if isinstance(s, HuffmanStage) else
                       dataclasses.replace(s, epochs=0)  # type: ignore[arg-type]
                       for s in self.stages)
        return dataclasses.replace(self, stages=stages)

    def index_bits_for(self, layer: str) -> int:
        return int(self.layer_index_bits.get(layer, self.index_bits))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "recipe") -> Recipe:
        """Build and validate; unknown keys raise ``ConfigError`` naming ``where`` and the key."""
        return from_mapping(cls, data if data is not None else {}, where)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["stages"] = [s.to_dict() for s in self.stages]
        return out


def load_recipe(path: str | os.PathLike[str]) -> Recipe:
    """Read a recipe from a ``.yaml``/``.yml`` or ``.toml`` file."""
    data = read_mapping(path, "recipe", suffixes=(".yaml", ".yml", ".toml"))
    return Recipe.from_dict(data, where=str(path))
