"""Activation sparsity allocated per input (TEAL-style greedy), with weight-informed scores.

Uniform thresholds (``eie.llm.actsparsity.thresholds``) zero the same fraction of every Linear
input. Here the fraction differs per *input group* — the Linear layers of one decoder block that
read the same vector (q/k/v; o; gate/up; down) — chosen to meet a target **model average
weighted by the weights each group's input multiplies** (the Linear work a zero skips), at the
least error:

1. ``profile``: each decoder block's inputs are captured on a calibration text (one dense
   forward), then the block alone is re-run with one group's input sparsified at each level of
   ``PROFILE_LEVELS``, others dense; the error is the block output's
   ``mean_t ||y_t - y0_t||^2 / ||y0_t||^2`` over the calibration tokens ``t``.
2. ``Profile.allocate(target, scope)``: greedy, in steps of ``STEP``, the group whose error
   grows least per weight skipped is made sparser (errors interpolated linearly between the
   measured levels), until the weighted average reaches ``target``: within each block
   (``scope="block"``, TEAL's block-wise allocation: every block at the target) or over the
   whole model (``scope="model"``, the blocks' errors summed, each block's weighted by its
   ``gain``, below).
3. ``Profile.limits``: the thresholds of that allocation, by model Linear name.

Block errors are relative errors of the residual stream, and a unit of it costs the model's
output more in some blocks (the first, the last) than in others; block scope does not mind (a
block's groups share one factor), model scope does. ``measure_gains`` (``profile(...,
gains=True)``; off by default) sets each block's ``gain``: the KL divergence of the model's
next-token distribution when only that block's inputs are sparsified at its block-scope
allocation for ``GAIN_TARGET``, divided by the block error summed over its groups there (one
model forward per block, over ``GAIN_TOKENS`` calibration tokens). Model scope then minimises
the predicted KL; a profile without gains weights every block alike. On SmolLM2 the gains
(1.6-4.8, the last blocks highest) moved perplexity by no more than the evaluation's own
noise at 30-40% (docs/llm.md), for 60% more profile time: hence off by default.

Scores (``score=``): ``"abs"`` zeroes the entries of smallest ``|x_j|``; ``"wina"`` those of
smallest ``|x_j| * ||W[:, j]||`` (the column norm over the group's stacked weights: the output
change that zeroing ``x_j`` causes alone), as in WINA. A weight-informed threshold is a vector:
``|x_j| >= t / ||W[:, j]||`` per column.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from eie.errors import ConfigError
from eie.llm.actsparsity import Thresholds

PROFILE_LEVELS = (0.15, 0.3, 0.45, 0.6, 0.75, 0.9)
"""Sparsity levels at which each group's block error is measured (0 has no error)."""
STEP = 0.025
"""Allocation step of one group's sparsity."""
MAX_LEVEL = 0.9
SCORES = ("abs", "wina")
SCOPES = ("uniform", "block", "model")
SCORE_SAMPLES = 65536
"""Scores kept per group for its threshold quantiles (a fixed-seed subsample)."""
GAIN_TARGET = 0.4
"""Sparsity (block scope) at which each block's end-to-end gain is measured."""
GAIN_TOKENS = 128
"""Calibration tokens of the gain measurement (one window)."""

Limit = float | np.ndarray


@dataclass
class InputGroup:
    """Linear layers of one block reading the same input vector."""

    block: int
    names: list[str]
    weights: int
    """Weights the input multiplies per token (sum of rows x cols of the members)."""
    scale: np.ndarray | None
    """Per input column, the factor of ``|x_j|`` in the score (None: ``|x_j|`` alone)."""
    scores: np.ndarray
    """Sorted sample of the group's scores on the calibration text."""
    errors: np.ndarray = field(default_factory=lambda: np.zeros(0))
    """Block output error at each of ``PROFILE_LEVELS`` with only this group sparse."""
    gain: float = 1.0
    """Model output KL per unit of its block's error (``measure_gains``; 1: not measured)."""

    def threshold(self, level: float) -> float:
        if level <= 0.0:
            return 0.0
        return float(np.quantile(self.scores, level))

    def limit(self, level: float) -> Limit:
        t = self.threshold(level)
        if self.scale is None or t == 0.0:
            return t
        with np.errstate(divide="ignore"):
            return (t / self.scale).astype(np.float32)  # a zero column norm: inf, always zeroed

    def error(self, level: float) -> float:
        """The measured error curve, linear between levels (0 at 0)."""
        xs = np.concatenate([[0.0], PROFILE_LEVELS])
        ys = np.concatenate([[0.0], self.errors])
        return float(np.interp(level, xs, ys))


@dataclass
class Profile:
    """What ``profile`` measured; ``allocate`` and ``limits`` use it."""

    groups: list[InputGroup]
    score: str
    tokens: int
    seconds: float = 0.0
    gains: bool = False
    """Whether ``measure_gains`` set the groups' gains."""

    @property
    def total_weights(self) -> int:
        return sum(g.weights for g in self.groups)

    def allocate(self, target: float, scope: str = "block") -> list[float]:
        """Sparsity of each group (in ``groups`` order) for a weighted average ``target``."""
        check_target(target)
        if scope not in SCOPES:
            raise ConfigError(f"allocation should be one of {SCOPES}, found {scope!r}")
        if scope == "uniform" or target == 0.0:
            return [target] * len(self.groups)
        levels = [0.0] * len(self.groups)
        pools = ([list(range(len(self.groups)))] if scope == "model" else
                 [[i for i, g in enumerate(self.groups) if g.block == b]
                  for b in sorted({g.block for g in self.groups})])
        for pool in pools:
            need = target * sum(self.groups[i].weights for i in pool)
            have = 0.0
            while have < need - 1e-9:
                best, best_cost = -1, np.inf
                for i in pool:
                    if levels[i] + STEP > MAX_LEVEL + 1e-9:
                        continue
                    g = self.groups[i]
                    cost = g.gain * (g.error(levels[i] + STEP) - g.error(levels[i])) / g.weights
                    if cost < best_cost:
                        best, best_cost = i, cost
                if best < 0:
                    raise ConfigError(f"a sparsity of {target} cannot be allocated with every "
                                      f"input at most {MAX_LEVEL}")
                step = min(STEP, (need - have) / self.groups[best].weights)
                levels[best] += step
                have += step * self.groups[best].weights
        return levels

    def limits(self, target: float, scope: str = "block") -> Thresholds:
        """Thresholds by model Linear name (every member of a group gets its group's), with
        each one's allocated level."""
        out: dict[str, Limit] = {}
        levels: dict[str, float] = {}
        for g, s in zip(self.groups, self.allocate(target, scope), strict=True):
            lim = g.limit(s)
            for n in g.names:
                out[n], levels[n] = lim, s
        return Thresholds(out, levels)

    def summary(self, target: float, scope: str) -> dict[str, Any]:
        """Mean sparsity by kind of input (the part after the block prefix of its first
        member), for reports."""
        levels = self.allocate(target, scope)
        by: dict[str, list[float]] = {}
        for g, s in zip(self.groups, levels, strict=True):
            by.setdefault(g.names[0].rsplit(".", 1)[-1], []).append(s)
        return {k: round(float(np.mean(v)), 4) for k, v in by.items()}


    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the profile (numpy arrays and a JSON header in one ``.npz``, no pickle),
        atomically; ``load_profile`` reads it back."""
        import io
        import json

        from eie._io import write_atomic

        arrays: dict[str, np.ndarray] = {}
        groups: list[dict[str, Any]] = []
        meta = {"format": PROFILE_FORMAT, "score": self.score, "tokens": self.tokens,
                "seconds": self.seconds, "levels": list(PROFILE_LEVELS), "gains": self.gains,
                "groups": groups}
        for i, g in enumerate(self.groups):
            arrays[f"scores{i}"] = g.scores
            arrays[f"errors{i}"] = g.errors
            if g.scale is not None:
                arrays[f"scale{i}"] = g.scale
            groups.append({"block": g.block, "names": g.names, "weights": g.weights,
                           "gain": g.gain})
        arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
        buf = io.BytesIO()
        np.savez(buf, **arrays)  # type: ignore[arg-type]
        return write_atomic(path, buf.getvalue())


PROFILE_FORMAT = "eie-act-profile-1"


def load_profile(path: str | os.PathLike[str]) -> Profile:
    """Read a profile written by ``Profile.save`` (validated: FormatError when malformed)."""
    import json
    import zipfile

    from eie.errors import FormatError

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: no such file; expected an activation profile (.npz)")
    try:
        with np.load(p, allow_pickle=False) as z:
            meta = json.loads(bytes(z["meta"]).decode())
            if meta.get("format") != PROFILE_FORMAT:
                raise FormatError(f"format {meta.get('format')!r}, expected {PROFILE_FORMAT!r}")
            if list(meta["levels"]) != list(PROFILE_LEVELS):
                raise FormatError(f"profile levels {meta['levels']}, expected "
                                  f"{list(PROFILE_LEVELS)}")
            groups = []
            for i, g in enumerate(meta["groups"]):
                errors = np.asarray(z[f"errors{i}"], np.float64)
                scores = np.asarray(z[f"scores{i}"], np.float32)
                scale = np.asarray(z[f"scale{i}"], np.float32) if f"scale{i}" in z else None
                if errors.shape != (len(PROFILE_LEVELS),) or scores.ndim != 1 \
                        or not scores.size or not np.all(np.isfinite(errors)):
                    raise FormatError(f"group {i}: malformed errors or scores")
                gain = float(g.get("gain", 1.0))
                if not (np.isfinite(gain) and gain > 0):
                    raise FormatError(f"group {i}: gain {gain}, expected a positive number")
                groups.append(InputGroup(int(g["block"]), [str(n) for n in g["names"]],
                                         int(g["weights"]), scale, np.sort(scores), errors,
                                         gain))
            score = str(meta["score"])
            if score not in SCORES or not groups or any(g.weights < 1 for g in groups):
                raise FormatError("malformed score or groups")
            return Profile(groups, score, int(meta["tokens"]), float(meta["seconds"]),
                           bool(meta.get("gains", False)))
    except FormatError as e:
        raise FormatError(f"{p}: not a valid activation profile: {e}") from None
    except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError,
            zipfile.BadZipFile) as e:
        raise FormatError(f"{p}: not a valid activation profile ({type(e).__name__})") from None


def check_target(target: float) -> None:
    if not 0.0 <= target <= MAX_LEVEL:
        raise ConfigError(f"the activation sparsity should be in [0, {MAX_LEVEL}], found "
                          f"{target}")


def _decoder_layers(model: Any) -> Any:
    core = getattr(model, "model", None)
    layers = getattr(core, "layers", None)
    if layers is None:
        raise ConfigError("activation-sparsity allocation needs a decoder (model.model.layers)")
    return layers


def profile(loaded: Any, text: str, *, score: str = "abs", context: int = 256,
            max_tokens: int = 256, step: Callable[[int, int], None] | None = None,
            gains: bool = False) -> Profile:
    """Measure each input group's block error curve on ``text`` (see the module docstring),
    and with ``gains`` each block's end-to-end gain (``measure_gains``).

    ``max_tokens`` calibration tokens in windows of ``context``; each block is re-run
    ``len(PROFILE_LEVELS)`` times per group, so the cost is about 4 x 6 block forwards per
    block over those tokens, plus one model forward over ``GAIN_TOKENS`` per block for the
    gains."""
    import time

    import torch

    from eie.llm.calibrate import linear_modules, token_windows

    if score not in SCORES:
        raise ConfigError(f"the activation score should be one of {SCORES}, found {score!r}")
    if loaded.kind != "causal-lm":
        raise ConfigError("activation sparsity is measured on causal LMs only")
    t0 = time.perf_counter()
    model = loaded.model
    layers = _decoder_layers(model)
    windows = token_windows(loaded.tokenizer, text, context, max_tokens)
    captured: list[list[tuple[tuple[Any, ...], dict[str, Any]]]] = [[] for _ in layers]

    def grab(i: int) -> Any:
        def fn(_m: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
            captured[i].append((tuple(a.detach().clone() if torch.is_tensor(a) else a
                                      for a in args), dict(kwargs)))
        return fn

    handles = [layer.register_forward_pre_hook(grab(i), with_kwargs=True)
               for i, layer in enumerate(layers)]
    try:
        with torch.no_grad():
            for w in windows:
                model(input_ids=torch.tensor([w]), use_cache=False)
    finally:
        for h in handles:
            h.remove()
    linears = linear_modules(model)
    rng = np.random.default_rng(0)
    groups: list[InputGroup] = []
    for b, layer in enumerate(layers):
        prefix = _prefix_of(linears, layer)
        members = {n: m for n, m in linears.items() if n.startswith(prefix)}
        dense, inputs = _replay(layer, captured[b], members, {})
        for names in _shared_inputs(inputs):
            ws = [members[n].weight.detach().float() for n in names]
            cols = ws[0].shape[1]
            scale = None
            if score == "wina":
                scale = torch.sqrt(sum((w * w).sum(dim=0) for w in ws)).numpy().astype(
                    np.float32)
            x = torch.cat(inputs[names[0]]).reshape(-1, cols).abs().numpy()
            s = x * scale if scale is not None else x
            flat = s.ravel()
            if flat.size > SCORE_SAMPLES:
                flat = flat[rng.choice(flat.size, SCORE_SAMPLES, replace=False)]
            groups.append(InputGroup(b, names, sum(int(w.numel()) for w in ws), scale,
                                     np.sort(flat.astype(np.float32))))
        for g in (g for g in groups if g.block == b):
            errs = []
            for level in PROFILE_LEVELS:
                lim = g.limit(level)
                out, _ = _replay(layer, captured[b], members, dict.fromkeys(g.names, lim))
                errs.append(_rel_error(out, dense))
            g.errors = np.array(errs)
        if step is not None:
            step(b + 1, len(layers) * (2 if gains else 1))
    prof = Profile(groups, score, sum(len(w) for w in windows), time.perf_counter() - t0)
    if gains:
        n = len(layers)
        measure_gains(loaded, text, prof, step=None if step is None else
                      (lambda d, t: step(n + d, n + t)))
        prof.seconds = time.perf_counter() - t0
    return prof


def measure_gains(loaded: Any, text: str, prof: Profile, *, target: float = GAIN_TARGET,
                  max_tokens: int = GAIN_TOKENS,
                  step: Callable[[int, int], None] | None = None) -> list[float]:
    """Set each block's ``gain`` (every group of the block): the model's mean next-token
    ``KL(dense || sparse)`` over ``max_tokens`` tokens of ``text`` (one window) with only that
    block's inputs sparsified at its block-scope allocation for ``target``, per unit of the
    block error the profile predicts there (``sum_g g.error(level_g)``). Returns the gains by
    block. A block whose KL or predicted error is not positive keeps the smallest positive
    gain measured (it costs nothing measurable)."""
    import torch

    from eie.llm import actsparsity
    from eie.llm.calibrate import token_windows

    check_target(target)
    ids = torch.tensor([token_windows(loaded.tokenizer, text, max_tokens, max_tokens)[0]])
    model = loaded.model

    def logp() -> Any:
        with torch.no_grad():
            return torch.log_softmax(model(input_ids=ids, use_cache=False).logits[0].double(),
                                     -1)

    lp0 = logp()
    p0 = lp0.exp()
    levels = prof.allocate(target, "block")
    blocks = sorted({g.block for g in prof.groups})
    raw: dict[int, float] = {}
    for k, b in enumerate(blocks):
        members = [(g, s) for g, s in zip(prof.groups, levels, strict=True) if g.block == b]
        limits: dict[str, Limit] = {n: g.limit(s) for g, s in members for n in g.names}
        with actsparsity.sparse_activations(model, limits):
            kl = float((p0 * (lp0 - logp())).sum(-1).mean())
        predicted = sum(g.error(s) for g, s in members)
        raw[b] = kl / predicted if kl > 0 and predicted > 0 else 0.0
        if step is not None:
            step(k + 1, len(blocks))
    floor = min((v for v in raw.values() if v > 0), default=1.0)
    out = {b: v if v > 0 else floor for b, v in raw.items()}
    for g in prof.groups:
        g.gain = out[g.block]
    prof.gains = True
    return [out[b] for b in blocks]


def _prefix_of(linears: dict[str, Any], layer: Any) -> str:
    for n, m in linears.items():
        for sub_name, sub in layer.named_modules():
            if sub is m and sub_name and n.endswith(sub_name):
                return n[: len(n) - len(sub_name)]
    raise ConfigError("a decoder layer without Linear layers")


def _replay(layer: Any, calls: list[tuple[tuple[Any, ...], dict[str, Any]]],
            members: dict[str, Any], limits: dict[str, Limit]
            ) -> tuple[list[Any], dict[str, list[Any]]]:
    """Run ``layer`` on its captured calls with ``limits`` zeroing its Linear inputs; the
    outputs and each member's (unsparsified) inputs."""
    import torch

    inputs: dict[str, list[Any]] = {n: [] for n in members}
    ids: dict[str, list[int]] = {n: [] for n in members}

    def hook(name: str) -> Any:
        lim = limits.get(name)
        lim_t = None if lim is None else torch.as_tensor(lim, dtype=torch.float32)

        def fn(_m: Any, args: tuple[Any, ...]) -> Any:
            x = args[0]
            if not limits:  # x itself is kept: its id stays unique while the lists live
                inputs[name].append(x)
                ids[name].append(id(x))
            if lim_t is None:
                return None
            return (x * (x.abs() >= lim_t), *args[1:])
        return fn

    handles = [m.register_forward_pre_hook(hook(n)) for n, m in members.items()]
    outs = []
    try:
        with torch.no_grad():
            for args, kwargs in calls:
                o = layer(*args, **kwargs)
                outs.append(o[0] if isinstance(o, tuple) else o)
    finally:
        for h in handles:
            h.remove()
    if not limits:
        inputs["__ids__"] = ids  # type: ignore[assignment]
    return outs, inputs


def _shared_inputs(inputs: dict[str, Any]) -> list[list[str]]:
    """Members grouped by the input tensor they were called with (same object: same input)."""
    ids = inputs.pop("__ids__")
    groups: dict[tuple[int, ...], list[str]] = {}
    for n, seq in ids.items():
        groups.setdefault(tuple(seq), []).append(n)
    return list(groups.values())


def _rel_error(outs: list[Any], dense: list[Any]) -> float:
    num, count = 0.0, 0
    for o, d in zip(outs, dense, strict=True):
        o2 = o.reshape(-1, o.shape[-1]).double()
        d2 = d.reshape(-1, d.shape[-1]).double()
        num += float((((o2 - d2) ** 2).sum(1) / (d2 * d2).sum(1).clamp(min=1e-30)).sum())
        count += o2.shape[0]
    return num / max(count, 1)


def weighted_realised(counts: dict[str, list[int]], weights: dict[str, int]) -> float:
    """The fraction of Linear work skipped on the evaluated text: each Linear's zeroed input
    fraction weighted by its rows (``counts`` from ``actsparsity.sparse_activations``)."""
    num = sum(c[0] * weights[n] for n, c in counts.items() if c[1])
    den = sum(c[1] * weights[n] for n, c in counts.items() if c[1])
    return num / den if den else 0.0
