"""``compress(model, recipe, train_fn, eval_fn)``: run a recipe's stages, checkpoint, report.

Stages run in order on a copy of ``model``:

- ``prune``: per round, new masks (magnitude / Han's rule / global / N:M / block / balanced) are
  intersected with the previous ones and applied, then ``train_fn`` retrains with the masks
  enforced (``MaskEnforcer``: pruned weights stay exactly zero through every optimizer step);
- ``quantize``: per-layer k-means (code 0 = zero) then centroid fine-tuning;
- ``huffman``: the storage with Huffman-coded streams (the model is unchanged).

After every stage: the accuracy (``eval_fn``), the density, the storage and compression ratio of
what would be stored at that point, and the stage's time go into a ``StageReport``.

Checkpoints (``checkpoint_dir``): the whole state (model, masks, codebooks, report rows) is
written to ``stage-<i>.pt`` after every stage and to ``stage-<i>.round-<r>.pt`` after every
pruning round but the last (pruning is most of the time), atomically (a temporary name, then a
rename; removed on failure), and read back with ``torch.load(weights_only=True)``. A rerun with
the same recipe on the same model (a SHA-256 of its state_dict) resumes after the last saved
point, bit-identical to an uninterrupted run: stage i is seeded with ``recipe.seed * 1000 + i``
and each pruning round with ``round_seed``, each round's schedule starts from the densities the
stage started with (saved), and ``train_fn`` must draw its randomness from torch's global
generator and build its optimizer per call (as ``make_train_fn`` and ``eie compress --data`` do),
so no optimizer state or data order is lost between calls.

``train_fn(model, epochs, lr, report)`` trains in place with any torch optimizer;
``eval_fn(model) -> accuracy``; ``progress(ProgressEvent)`` receives stage, epoch and loss.
"""

from __future__ import annotations

import copy
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from eie.compress import prune as P
from eie.compress.export import to_eie_model
from eie.compress.graph import ModelGraph, capture
from eie.compress.models import compressible_layers
from eie.compress.prune_methods import PruneRound, prune_masks
from eie.compress.recipe import HuffmanStage, PruneStage, QuantizeStage, Recipe, Stage
from eie.compress.share import SharedLayer, apply_shared, finetune_centroids, share_weights
from eie.compress.train import EvalFn, TrainFn
from eie.errors import CompressionError
from eie.formats.eie_matrix import EIEMatrix
from eie.formats.huffman import HuffmanStorage, huffman_storage
from eie.formats.model import Model

CHECKPOINT_VERSION = 2
FP32_BITS = 32


@dataclass(frozen=True)
class ProgressEvent:
    stage: str
    stage_index: int
    num_stages: int
    epoch: int | None = None
    epochs: int | None = None
    loss: float | None = None
    message: str = ""


ProgressFn = Callable[[ProgressEvent], None]


@dataclass(frozen=True)
class StageReport:
    """One row of the per-stage report (``stage == "reference"`` for the uncompressed model)."""

    stage: str
    kind: str
    accuracy: float
    density: float
    """Overall fraction of nonzero weights in the compressed layers."""
    layer_density: dict[str, float]
    size_bytes: float
    """What would be stored now: fp32 sparse (after pruning), codes (after quantize), Huffman."""
    compression_ratio: float
    """Dense fp32 bytes / ``size_bytes``."""
    seconds: float
    resumed: bool = False
    """True when this row was loaded from a checkpoint instead of computed in this run."""


@dataclass(frozen=True)
class LayerSummary:
    name: str
    shape: tuple[int, int]
    density: float
    bits: int
    index_bits: int
    storage: dict[str, float]
    """``HuffmanStorage.as_dict()`` of the layer on the saved layout."""


@dataclass
class CompressionResult:
    torch_model: nn.Module
    """The compressed torch model (weights exactly ``codebook[codes]``)."""
    eie_model: Model | None
    """The model in EIE's format (None when the recipe has no quantize stage)."""
    report: list[StageReport]
    accuracy_reference: float
    accuracy_compressed: float
    layers: list[LayerSummary] = field(default_factory=list)
    storage: HuffmanStorage | None = None
    shared: dict[str, SharedLayer] = field(default_factory=dict)
    masks: dict[str, torch.Tensor] = field(default_factory=dict)
    recipe: Recipe | None = None

    @property
    def density(self) -> float:
        return self.report[-1].density

    @property
    def compression_ratio(self) -> float:
        return self.storage.compression_ratio if self.storage else self.report[-1].compression_ratio

    @property
    def compression_ratio_no_huffman(self) -> float:
        return (self.storage.compression_ratio_no_huffman if self.storage
                else self.report[-1].compression_ratio)

    def save(self, path: str | os.PathLike[str], huffman: bool = False) -> Path:
        """Write the ``.eie`` file (``huffman=True``: Huffman-coded code and index streams)."""
        from eie.formats.container import save

        if self.eie_model is None:
            raise CompressionError("nothing to save: the recipe had no quantize stage, so "
                                   "there are no codebooks; add one")
        return save(path, self.eie_model, huffman=huffman)

    def to_json(self) -> dict[str, Any]:
        num_pes = self.recipe.num_pes if self.recipe else 1
        return {
            "compression_ratio": self.compression_ratio,
            "compression_ratio_no_huffman": self.compression_ratio_no_huffman,
            "accuracy_reference": self.accuracy_reference,
            "accuracy_compressed": self.accuracy_compressed,
            "accuracy_drop_points": 100 * (self.accuracy_reference - self.accuracy_compressed),
            "density": self.density,
            "num_pes": num_pes,
            "storage": self.storage.as_dict() if self.storage else None,
            "layers": [{**asdict(layer), "shape": list(layer.shape)} for layer in self.layers],
            "stages": [asdict(r) for r in self.report],
            "recipe": self.recipe.to_dict() if self.recipe else None,
        }


# ------------------------------------------------------------------------------------ state
@dataclass
class _State:
    model: nn.Module
    masks: dict[str, torch.Tensor]
    shared: dict[str, SharedLayer]
    rows: list[StageReport]


def _weight(mod: nn.Module) -> torch.Tensor:
    w = mod.weight
    assert isinstance(w, torch.Tensor)
    return w


def _layer_map(model: nn.Module) -> dict[str, nn.Module]:
    layers = dict(compressible_layers(model))
    if not layers:
        raise CompressionError("the model has no Linear or Conv2d layer to compress")
    return layers


def _densities(st: _State) -> tuple[float, dict[str, float]]:
    per, nz, tot = {}, 0, 0
    for name, mod in _layer_map(st.model).items():
        w = _weight(mod).detach()
        n = int(torch.count_nonzero(w))
        per[name] = n / w.numel()
        nz += n
        tot += w.numel()
    return nz / tot, per


def _storage(st: _State, recipe: Recipe, huffman: bool) -> tuple[float, float, list[Any]]:
    """(stored bits, dense fp32 bits, per-layer HuffmanStorage or None) of the current state."""
    stored, dense = 0.0, 0.0
    per: list[HuffmanStorage | None] = []
    for name, mod in _layer_map(st.model).items():
        w = P.matrix_view(_weight(mod).detach())
        ib = recipe.index_bits_for(name)
        dense += w.numel() * FP32_BITS
        if name in st.shared:
            s = st.shared[name]
            m = EIEMatrix.from_codes(s.codes, s.codebook, recipe.num_pes, ib, weight_bits=s.bits)
            hs = huffman_storage(m)
            stored += hs.total_bits if huffman else hs.before.total_bits
            per.append(hs)
        else:  # sparse fp32 values in the EIE layout (entries, fillers and pointers)
            structure = (w != 0).numpy().astype(np.uint8)
            m = EIEMatrix.from_codes(structure, np.array([0.0, 1.0], np.float32),
                                     recipe.num_pes, ib)
            sb = m.storage()
            stored += m.num_entries * (FP32_BITS + ib) + sb.pointers_bits
            per.append(None)
    return stored, dense, per


def _row(st: _State, recipe: Recipe, stage: str, kind: str, acc: float, seconds: float
         ) -> StageReport:
    density, per = _densities(st)
    if kind == "reference":  # stored dense, as fp32
        dense_bits = sum(_weight(m).numel() for m in _layer_map(st.model).values()) * FP32_BITS
        return StageReport(stage, kind, acc, density, per, dense_bits / 8, 1.0, seconds)
    stored, dense, _ = _storage(st, recipe, huffman=kind == "huffman")
    return StageReport(stage, kind, acc, density, per, stored / 8, dense / stored, seconds)


# ------------------------------------------------------------------------------------ stages
def _prune_targets(stage: PruneStage, names: list[str]) -> dict[str, tuple[float | None,
                                                                           float | None]]:
    out = {}
    for name in names:
        ov = stage.layers.get(name)
        if ov is not None and ov.skip:
            continue
        if ov is not None and (ov.density is not None or ov.quality is not None):
            out[name] = (ov.density, ov.quality)
        elif (stage.density is not None or stage.quality is not None
              or not stage.method.needs_target):
            out[name] = (stage.density, stage.quality)
    unknown = sorted(set(stage.layers) - set(names))
    if unknown:
        raise CompressionError(f"stage {stage.name!r} names layers {unknown} that the model "
                               f"does not have; its layers are {names}")
    return out


def stage_start_densities(st: _State, stage: PruneStage) -> dict[str, float]:
    """Each pruned layer's density when the stage starts (its schedule runs from there)."""
    layers = _layer_map(st.model)
    return {n: float(torch.count_nonzero(_weight(layers[n]))) / _weight(layers[n]).numel()
            for n in _prune_targets(stage, list(layers))}


def round_seed(recipe: Recipe, stage_index: int, round_index: int) -> int:
    """The torch seed of one pruning round: a resumed round draws what it drew the first time."""
    return (recipe.seed * 1000 + stage_index) * 1000 + round_index + 1


def _schedule(stage: PruneStage, target: float, start: float) -> list[float]:
    if stage.schedule == "polynomial":
        return P.polynomial_densities(target, stage.rounds, start, stage.power)
    return P.iterative_densities(target, stage.rounds, start)


def _run_prune(st: _State, stage: PruneStage, recipe: Recipe, train_fn: TrainFn,
               report: Callable[[int, float], None], start: dict[str, float],
               first_round: int = 0, stage_index: int = 0,
               after_round: Callable[[int], None] | None = None) -> None:
    layers = _layer_map(st.model)
    targets = _prune_targets(stage, list(layers))
    for r in range(first_round, stage.rounds):
        torch.manual_seed(round_seed(recipe, stage_index, r))
        frac = (r + 1) / stage.rounds
        weights = {n: _weight(layers[n]).detach() for n in targets}

        def global_density(r: int = r, weights: dict[str, torch.Tensor] = weights) -> float:
            dens = [d for d, _ in targets.values() if d is not None]
            if not dens:
                raise CompressionError("global pruning needs a density")
            total0 = sum(start[n] * weights[n].numel() for n in targets) / float(
                sum(weights[n].numel() for n in targets))
            return _schedule(stage, dens[0], total0)[r]

        def density(n: str, r: int = r) -> float | None:
            target = targets[n][0]
            return None if target is None else _schedule(stage, target, start[n])[r]

        new = prune_masks(stage.method, PruneRound(
            weights=weights, density=density,
            qualities={n: None if q is None else q * frac for n, (_, q) in targets.items()},
            global_density=global_density, num_pes=recipe.num_pes))
        for n, mask in new.items():
            old = st.masks.get(n)
            st.masks[n] = mask if old is None else (mask & old)
        enforcer = P.MaskEnforcer([(_weight(layers[n]), m) for n, m in st.masks.items()])
        enforcer.apply()
        if stage.epochs:
            with enforcer:
                train_fn(st.model, stage.epochs, stage.lr, report)
        if after_round is not None and r + 1 < stage.rounds:
            after_round(r)


def _run_quantize(st: _State, stage: QuantizeStage, recipe: Recipe, train_fn: TrainFn,
                  report: Callable[[int, float], None], seed: int) -> None:
    layers = _layer_map(st.model)
    unknown = sorted(set(stage.layers) - set(layers))
    if unknown:
        raise CompressionError(f"stage {stage.name!r} names layers {unknown} that the model "
                               f"does not have; its layers are {list(layers)}")
    shared = {}
    for name, mod in layers.items():
        ov = stage.layers.get(name)
        if ov is not None and ov.skip:
            continue
        bits = ov.bits if ov is not None and ov.bits is not None else stage.bits
        init = ov.init if ov is not None and ov.init is not None else stage.init
        shared[name] = share_weights(_weight(mod), st.masks.get(name), bits, init,
                                     stage.algorithm, seed)
    apply_shared(st.model, shared)
    # Layers the stage skips stay float and train with the centroids; their masks still hold.
    enforcer = P.MaskEnforcer([(_weight(layers[n]), m) for n, m in st.masks.items()
                               if n not in shared])
    with enforcer:
        st.shared = finetune_centroids(st.model, shared, train_fn, stage.epochs, stage.lr,
                                       stage.grad, report)


# ------------------------------------------------------------------------------- checkpoints
def _ckpt_path(d: Path, i: int, round_index: int | None = None) -> Path:
    return d / (f"stage-{i}.pt" if round_index is None else f"stage-{i}.round-{round_index}.pt")


def model_fingerprint(model: nn.Module) -> str:
    """SHA-256 of the model's state_dict (names, shapes, dtypes, bytes): a checkpoint is only
    resumed for the model it was written for."""
    import hashlib

    h = hashlib.sha256()
    for k, v in sorted(model.state_dict().items()):
        t = v.detach().cpu().contiguous()
        h.update(f"{k}:{tuple(t.shape)}:{t.dtype};".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def _key(recipe: Recipe, fingerprint: str) -> str:
    return json.dumps({"recipe": recipe.to_dict(), "model": fingerprint}, sort_keys=True)


def _save_checkpoint(d: Path, i: int, st: _State, recipe: Recipe, ref_acc: float,
                     fingerprint: str, round_index: int | None = None,
                     start: dict[str, float] | None = None) -> None:
    """Write stage ``i``'s state (or the state after one of its pruning rounds) atomically: to
    a temporary name in the same folder, then renamed; nothing is left behind on failure."""
    d.mkdir(parents=True, exist_ok=True)
    blob = {
        "version": CHECKPOINT_VERSION, "key": _key(recipe, fingerprint),
        "stage": i, "round": -1 if round_index is None else round_index,
        "model": st.model.state_dict(), "masks": st.masks,
        "shared": {n: {"codes": torch.from_numpy(s.codes.copy()),
                       "codebook": torch.from_numpy(s.codebook.copy()), "bits": s.bits}
                   for n, s in st.shared.items()},
        "rows": json.dumps([asdict(r) for r in st.rows]), "accuracy_reference": ref_acc,
        "start": json.dumps(start or {}),
    }
    final = _ckpt_path(d, i, round_index)
    tmp = d / f".{final.name}.tmp{os.getpid()}"
    try:
        torch.save(blob, tmp)
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    for p in d.glob(f"stage-{i}.round-*.pt"):  # superseded by the file just written
        if p != final:
            p.unlink(missing_ok=True)


@dataclass
class _Resume:
    stage: int
    """Index of the last stage with saved state."""
    round: int | None
    """None: that stage finished; else its last finished pruning round."""
    accuracy_reference: float
    start: dict[str, float]


def _read_checkpoint(p: Path, key: str) -> dict[str, Any] | None:
    try:
        blob = torch.load(p, weights_only=True, map_location="cpu")
    except Exception as e:  # a truncated or foreign file is not resumed, and says why
        raise CompressionError(f"{p}: cannot read this checkpoint ({type(e).__name__}); "
                               "delete it or use another --checkpoint-dir") from None
    if not isinstance(blob, dict) or blob.get("version") != CHECKPOINT_VERSION \
            or blob.get("key") != key:
        return None
    return blob


def _load_checkpoint(d: Path, recipe: Recipe, st: _State, fingerprint: str) -> _Resume | None:
    """Restore the latest saved state of this recipe and model (a finished stage, or a
    finished round of the stage after it)."""
    key = _key(recipe, fingerprint)
    for i in range(len(recipe.stages) - 1, -1, -1):
        candidates: list[tuple[Path, int | None]] = [(_ckpt_path(d, i), None)]
        rounds = sorted((int(p.name.split(".round-")[1][:-3]), p)
                        for p in d.glob(f"stage-{i}.round-*.pt")
                        if p.name.split(".round-")[1][:-3].isdigit())
        candidates += [(p, r) for r, p in reversed(rounds)]
        for p, r in candidates:
            if not p.is_file():
                continue
            blob = _read_checkpoint(p, key)
            if blob is None:
                continue
            st.model.load_state_dict(blob["model"])
            st.masks = dict(blob["masks"])
            st.shared = {n: SharedLayer(v["codes"].numpy(), v["codebook"].numpy(),
                                        int(v["bits"])) for n, v in blob["shared"].items()}
            st.rows = [StageReport(**{**row, "resumed": True})
                       for row in json.loads(blob["rows"])]
            return _Resume(i, r, float(blob["accuracy_reference"]),
                           {k: float(v) for k, v in json.loads(blob["start"]).items()})
    return None


# ---------------------------------------------------------------------------------- compress
def compress(model: nn.Module, recipe: Recipe, train_fn: TrainFn, eval_fn: EvalFn, *,
             checkpoint_dir: str | os.PathLike[str] | None = None,
             progress: ProgressFn | None = None, source: str = "",
             input_shape: tuple[int, ...] | None = None) -> CompressionResult:
    """Run ``recipe`` on a copy of ``model``; see the module docstring. ``input_shape`` (one
    sample's shape) is recorded in the ``.eie`` file when given.

    >>> from eie.compress import paper  # doctest: +SKIP
    >>> result = paper.run("lenet300", seed=0, quick=True)  # doctest: +SKIP
    >>> result.save("lenet300.eie"); result.to_json()["compression_ratio"]  # doctest: +SKIP
    """
    st = _State(copy.deepcopy(model), {}, {}, [])
    st.model.eval()
    # Read the graph first: a model whose activations cannot be known fails before training.
    graph = capture(st.model) if any(isinstance(s, QuantizeStage) for s in recipe.stages) \
        else None
    n_stages = len(recipe.stages)
    ckpt = Path(checkpoint_dir) if checkpoint_dir is not None else None
    fingerprint = model_fingerprint(st.model) if ckpt is not None else ""
    first, first_round, start0 = 0, 0, None
    resumed = _load_checkpoint(ckpt, recipe, st, fingerprint) if ckpt is not None else None
    if resumed is not None:
        ref_acc = resumed.accuracy_reference
        if resumed.round is None:
            first = resumed.stage + 1
            where = f"after stage {first} of {n_stages}"
        else:
            first, first_round, start0 = resumed.stage, resumed.round + 1, resumed.start
            where = (f"in stage {first + 1} of {n_stages} after pruning round "
                     f"{first_round} of {getattr(recipe.stages[first], 'rounds', 1)}")
        if progress:
            progress(ProgressEvent("resume", first, n_stages, message=f"resumed {where}"))
    else:
        t0 = time.perf_counter()
        ref_acc = float(eval_fn(st.model))
        st.rows.append(_row(st, recipe, "reference", "reference", ref_acc,
                            time.perf_counter() - t0))
    for i in range(first, n_stages):
        stage: Stage = recipe.stages[i]
        torch.manual_seed(recipe.seed * 1000 + i)
        t0 = time.perf_counter()

        def report(epoch: int, loss: float, stage: Stage = stage, i: int = i) -> None:
            if progress:
                epochs = getattr(stage, "epochs", None)
                progress(ProgressEvent(stage.name, i, n_stages, epoch, epochs, loss))

        if progress:
            progress(ProgressEvent(stage.name, i, n_stages, message="start"))
        if isinstance(stage, PruneStage):
            resuming = i == first and start0 is not None
            start = start0 if resuming and start0 is not None else \
                stage_start_densities(st, stage)

            def after_round(r: int, i: int = i, start: dict[str, float] = start) -> None:
                if ckpt is not None:
                    _save_checkpoint(ckpt, i, st, recipe, ref_acc, fingerprint, r, start)

            _run_prune(st, stage, recipe, train_fn, report, start,
                       first_round if resuming else 0, i, after_round)
        elif isinstance(stage, QuantizeStage):
            _run_quantize(st, stage, recipe, train_fn, report, recipe.seed * 1000 + i)
        elif not isinstance(stage, HuffmanStage):
            raise CompressionError(f"unknown stage {stage!r}")
        acc = float(eval_fn(st.model))
        st.rows.append(_row(st, recipe, stage.name, stage.kind, acc, time.perf_counter() - t0))
        if ckpt is not None:
            _save_checkpoint(ckpt, i, st, recipe, ref_acc, fingerprint)
        if progress:
            progress(ProgressEvent(stage.name, i, n_stages, message=f"accuracy {acc:.4f}"))
    return _finish(st, recipe, ref_acc, source, input_shape, graph)


def _finish(st: _State, recipe: Recipe, ref_acc: float, source: str,
            input_shape: tuple[int, ...] | None = None, graph: ModelGraph | None = None
            ) -> CompressionResult:
    eie_model = None
    summaries: list[LayerSummary] = []
    total: HuffmanStorage | None = None
    if st.shared:
        _, _, per = _storage(st, recipe, huffman=True)
        for name, hs in zip(_layer_map(st.model), per, strict=True):
            if name not in st.shared:  # skipped by the quantize stage: stays in torch
                continue
            s = st.shared[name]
            assert hs is not None
            nnz = int(np.count_nonzero(s.codes))
            summaries.append(LayerSummary(name, (int(s.codes.shape[0]), int(s.codes.shape[1])),
                                          nnz / s.codes.size, s.bits,
                                          recipe.index_bits_for(name), hs.as_dict()))
            total = hs if total is None else total + hs
        acc = st.rows[-1].accuracy
        in_torch = [n for n in _layer_map(st.model) if n not in st.shared]
        meta = {"recipe": recipe.to_dict(), "accuracy_reference": ref_acc,
                "accuracy_compressed": acc, "num_pes": recipe.num_pes,
                "compression_ratio": total.compression_ratio if total and not in_torch
                else None, "layers_in_torch": in_torch}
        eie_model = to_eie_model(st.model, st.shared, recipe.num_pes,
                                 {n: recipe.index_bits_for(n) for n in st.shared},
                                 source=source or f"eie.compress recipe {recipe.name}",
                                 metadata=meta, input_shape=input_shape,
                                 allow_missing=bool(in_torch), graph=graph)
        if in_torch:  # the stored layers alone are not the model: report the whole of it
            total = None
    return CompressionResult(st.model, eie_model, st.rows, ref_acc, st.rows[-1].accuracy,
                             summaries, total, st.shared, st.masks, recipe)
