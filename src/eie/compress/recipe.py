"""Compression recipes: frozen dataclasses, loadable from YAML or TOML, unknown keys rejected.

A recipe is an ordered list of stages plus layout options::

    name: lenet300-paper
    num_pes: 1            # PE count of the saved layout (1 = Deep Compression's accounting)
    index_bits: 5         # relative-index width; per layer in layer_index_bits
    seed: 0
    stages:
      - kind: prune       # magnitude | nm | block | balanced
        method: magnitude
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
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from eie.compress.kmeans import INITS
from eie.compress.share import ALGORITHMS, GRAD_REDUCTIONS
from eie.errors import ConfigError

PRUNE_METHODS = ("magnitude", "nm", "block", "balanced")
PRUNE_SCOPES = ("layer", "global")
PRUNE_SCHEDULES = ("geometric", "polynomial")


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


@dataclass(frozen=True)
class PruneStage:
    kind: str = "prune"
    name: str = "prune"
    method: str = "magnitude"
    """One of ``PRUNE_METHODS``."""
    density: float | None = None
    """Target fraction of weights kept (every layer unless overridden)."""
    sparsity: float | None = None
    """Target fraction of weights removed, ``1 - density`` (the name torch's ``amount``,
    TF-MOT's ``final_sparsity`` and coremltools' ``target_sparsity`` use); give one of the two."""
    quality: float | None = None
    """Han's rule instead of a density: threshold = quality x std (magnitude method only)."""
    scope: str = "layer"
    """``"layer"``: each layer keeps ``density``; ``"global"``: one threshold across layers."""
    n: int = 2
    """N of N:M: the N largest-magnitude weights are kept in every group of M (N nonzeros of
    every M consecutive inputs of a row; 2:4 keeps half)."""
    m: int = 4
    """M of N:M: the group size, consecutive inputs (matrix columns) of one row."""
    block_rows: int = 4
    block_cols: int = 4
    num_pes: int | None = None
    """PE count for load-balance-aware pruning (default: the recipe's ``num_pes``)."""
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
    layers: Mapping[str, PruneLayer] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _sparsity_to_density(self, f"prune stage {self.name!r}")
        _check(self.schedule in PRUNE_SCHEDULES,
               f"prune schedule should be one of {PRUNE_SCHEDULES}, found {self.schedule!r}")
        _check(self.power > 0, f"schedule power should be > 0, found {self.power}")
        _check(self.method in PRUNE_METHODS,
               f"prune method should be one of {PRUNE_METHODS}, found {self.method!r}")
        _check(self.scope in PRUNE_SCOPES,
               f"prune scope should be one of {PRUNE_SCOPES}, found {self.scope!r}")
        if self.method == "nm":
            _check(1 <= self.n <= self.m, f"N:M needs 1 <= n <= m, found {self.n}:{self.m}")
        else:
            _check(self.density is not None or self.quality is not None
                   or (all(v.density is not None or v.quality is not None or v.skip
                          for v in self.layers.values()) and bool(self.layers)),
                   f"prune stage {self.name!r} needs a density or a quality (Han's rule)")
        _check(self.quality is None or self.method == "magnitude",
               "quality (Han's rule) only applies to method 'magnitude'")
        for d in [self.density, *(v.density for v in self.layers.values())]:
            _check(d is None or 0.0 < d <= 1.0, f"density should be in (0, 1], found {d}")
        _check(self.rounds >= 1, f"rounds should be >= 1, found {self.rounds}")
        _check(self.epochs >= 0, f"epochs should be >= 0, found {self.epochs}")
        _check(self.lr > 0, f"lr should be > 0, found {self.lr}")
        _check(self.block_rows >= 1 and self.block_cols >= 1, "block sizes should be >= 1")
        _check(self.scope == "layer" or self.method == "magnitude",
               "global scope only applies to method 'magnitude'")


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
    layers: Mapping[str, QuantizeLayer] = field(default_factory=dict)

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


@dataclass(frozen=True)
class HuffmanStage:
    """Report the storage with Huffman-coded codes and indices (the model is unchanged)."""

    kind: str = "huffman"
    name: str = "huffman"


Stage = PruneStage | QuantizeStage | HuffmanStage
STAGE_KINDS: dict[str, type] = {"prune": PruneStage, "quantize": QuantizeStage,
                                "huffman": HuffmanStage}


@dataclass(frozen=True)
class Recipe:
    name: str = "recipe"
    stages: tuple[Stage, ...] = ()
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
        """Build and validate; unknown keys raise ``ConfigError``."""
        d = dict(_strict_keys(cls, data, where))
        stages = []
        raw_stages = d.pop("stages", []) or []
        if not isinstance(raw_stages, list | tuple):
            raise ConfigError(f"{where}: stages should be a list of stages, each with kind one "
                              f"of {sorted(STAGE_KINDS)}; found {raw_stages!r}")
        for i, raw in enumerate(raw_stages):
            if not isinstance(raw, Mapping) or not isinstance(raw.get("kind"), str) \
                    or raw["kind"] not in STAGE_KINDS:
                kind = raw.get("kind") if isinstance(raw, Mapping) else raw
                raise ConfigError(f"{where}: stage {i} should have kind one of "
                                  f"{sorted(STAGE_KINDS)}, found {kind!r}")
            scls = STAGE_KINDS[raw["kind"]]
            sd = dict(_strict_keys(scls, raw, f"{where}: stage {i}"))
            if "layers" in sd:
                if not isinstance(sd["layers"] or {}, Mapping):
                    raise ConfigError(f"{where}: stage {i}: layers should map layer names to "
                                      f"settings, found {sd['layers']!r}")
                lcls = PruneLayer if scls is PruneStage else QuantizeLayer
                sd["layers"] = {str(k): lcls(**_strict_keys(lcls, v, f"{where}: stage {i} "
                                                                   f"layer {k!r}"))
                                for k, v in (sd["layers"] or {}).items()}
            stages.append(_construct(scls, sd, f"{where}: stage {i}"))
        d["stages"] = tuple(stages)
        return _construct(cls, d, where)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["stages"] = [dataclasses.asdict(s) for s in self.stages]
        return out


def _strict_keys(cls: type, data: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping of {cls.__name__} fields, found "
                          f"{type(data).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown} for {cls.__name__}; expected some "
                          f"of {sorted(names)}; fix or remove them")
    return data


def _construct(cls: type, d: dict[str, Any], where: str) -> Any:
    try:
        return cls(**d)
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None
    except TypeError as e:
        raise ConfigError(f"{where}: {e}") from None


def load_recipe(path: str | os.PathLike[str]) -> Recipe:
    """Read a recipe from a ``.yaml``/``.yml`` or ``.toml`` file."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: no such recipe file; expected a YAML or TOML recipe")
    text = p.read_text()
    try:
        if p.suffix == ".toml":
            data = tomllib.loads(text)
        elif p.suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text)
        else:
            raise ConfigError(f"{p}: recipe files should end in .yaml, .yml or .toml")
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as e:
        raise ConfigError(f"{p}: cannot parse the recipe: {e}") from None
    return Recipe.from_dict(data or {}, where=str(p))
