"""Quantize every Linear of a transformer: a spec, per-layer overrides, calibration, the report.

Linear layers only (embeddings, norms and a tied LM head are kept as they are). A layer's error
is reported as the relative squared error ``||W - Q||^2 / ||W||^2`` and, when calibrated, the
output-weighted one ``sum_j E[x_j^2] ||W_j - Q_j||^2 / sum_j E[x_j^2] ||W_j||^2`` (columns j),
which is the expected relative output error for inputs with uncorrelated channels.
"""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from eie.errors import ConfigError
from eie.llm import prune as prune_mod
from eie.llm.qweight import QuantizedWeight
from eie.llm.schemes import (
    quantize_codebook,
    quantize_float,
    quantize_int,
    quantize_iq4nl,
    quantize_nf4,
)

SCHEME_NAMES = ("codebook", "int4", "int3", "int", "nf4", "iq4nl", "fp16", "bf16")
WEIGHTINGS = ("none", "act", "fisher")
DEFAULT_GROUP = {"int": 128, "nf4": 64, "iq4nl": 32}


@dataclass(frozen=True)
class QuantSpec:
    """How to quantize one Linear layer."""

    scheme: str = "codebook"
    """``codebook``, ``int`` (``int4`` / ``int3`` set the bits), ``nf4``, ``iq4nl``, ``fp16``,
    ``bf16``, or ``keep`` (leave the layer in float32)."""
    bits: int = 4
    codebook: str = "row"
    """Codebook granularity: ``row``, ``group:N`` (N output rows share one), ``cols:N`` (one per N
    input columns of each row) or ``tensor`` (one per layer, EIE's scheme)."""
    group: int | None = None
    """Input columns per scale for int / nf4 / iq4nl (default 128 / 64 / 32)."""
    weighting: str = "act"
    """Importance of each weight: ``none``, ``act`` (E[x^2] of its input channel) or
    ``fisher`` (diagonal Fisher of the next-token loss)."""
    prune: float | tuple[int, int] | None = None
    prune_method: str = "magnitude"
    refine: bool = False
    """Refine the centroids by least squares on E[x x^T] of the calibration inputs
    (``eie.llm.refine``; codebook scheme, row / group:N / tensor granularity)."""

    def __post_init__(self) -> None:
        scheme = self.scheme
        if scheme in ("int4", "int3"):
            object.__setattr__(self, "bits", int(scheme[3]))
            object.__setattr__(self, "scheme", "int")
        if self.scheme not in (*SCHEME_NAMES, "keep"):
            raise ConfigError(f"scheme should be one of {(*SCHEME_NAMES, 'keep')}, found "
                              f"{self.scheme!r}")
        if self.scheme in ("codebook", "int") and not 2 <= self.bits <= 8:
            raise ConfigError(f"bits should be 2..8, found {self.bits}")
        if self.weighting not in WEIGHTINGS:
            raise ConfigError(f"weighting should be one of {WEIGHTINGS}, found "
                              f"{self.weighting!r}")
        if self.group is not None and self.group < 1:
            raise ConfigError(f"group should be >= 1 input columns, found {self.group}")
        if self.prune is not None and self.scheme != "codebook":
            raise ConfigError("pruning applies to the codebook scheme only")
        if self.prune_method not in prune_mod.METHODS:
            raise ConfigError(f"prune method should be one of {prune_mod.METHODS}, found "
                              f"{self.prune_method!r}")
        self.codebook_groups(8, 8)  # validates the granularity string
        if self.refine and (self.scheme != "codebook" or self.codebook.startswith("cols:")):
            raise ConfigError("refine applies to codebook layers with row, group:N or tensor "
                              "codebooks")

    def codebook_groups(self, rows: int, cols: int) -> tuple[int, int]:
        """``(group_rows, group_cols)`` of the codebook granularity for a (rows, cols) weight."""
        c = self.codebook
        if c == "row":
            return 1, cols
        if c == "tensor":
            return rows, cols
        kind, _, num = c.partition(":")
        if kind in ("group", "cols") and num.isdigit() and int(num) >= 1:
            return (int(num), cols) if kind == "group" else (1, int(num))
        raise ConfigError(f"codebook granularity should be row, group:N, cols:N or tensor, "
                          f"found {c!r}")

    @property
    def needs_calibration(self) -> bool:
        return self.scheme != "keep" and (
            (self.scheme in ("codebook", "iq4nl") and self.weighting != "none")
            or (self.prune is not None and self.prune_method == "wanda") or self.refine)

    def label(self) -> str:
        if self.scheme == "codebook":
            s = f"codebook {self.bits}-bit {self.codebook}, weighting {self.weighting}"
            if self.refine:
                s += ", refined"
            if self.prune is not None:
                s += f", prune {prune_mod.prune_label(self.prune) if isinstance(self.prune, tuple) else self.prune} {self.prune_method}"
            return s
        if self.scheme == "int":
            return f"int{self.bits} g{self.group or DEFAULT_GROUP['int']}"
        if self.scheme in ("nf4", "iq4nl"):
            return f"{self.scheme} g{self.group or DEFAULT_GROUP[self.scheme]}"
        return self.scheme

    def as_dict(self) -> dict[str, Any]:
        return {"scheme": self.scheme, "bits": self.bits, "codebook": self.codebook,
                "group": self.group, "weighting": self.weighting,
                "prune": list(self.prune) if isinstance(self.prune, tuple) else self.prune,
                "prune_method": self.prune_method, "refine": self.refine}


def parse_overrides(items: list[str], base: QuantSpec) -> list[tuple[str, QuantSpec]]:
    """``PATTERN=keep`` or ``PATTERN=key:value[,key:value]`` (keys: scheme, bits, codebook,
    group, weighting) -> (fnmatch pattern, spec). The first matching pattern wins."""
    out = []
    for item in items:
        pattern, sep, rest = item.partition("=")
        if not sep or not pattern or not rest:
            raise ConfigError(f"--override should be PATTERN=keep or PATTERN=key:value,..., "
                              f"found {item!r}")
        if rest == "keep":
            out.append((pattern, replace(base, scheme="keep", prune=None)))
            continue
        changes: dict[str, Any] = {}
        for kv in rest.split(","):
            key, sep2, value = kv.partition(":")
            if not sep2 or key not in ("scheme", "bits", "codebook", "group", "weighting",
                                       "refine"):
                raise ConfigError(f"--override key should be scheme, bits, codebook, group, "
                                  f"weighting or refine as key:value, found {kv!r}")
            if key in ("bits", "group"):
                if not value.isdigit():
                    raise ConfigError(f"--override {key} should be an integer, found {value!r}")
                changes[key] = int(value)
            elif key == "refine":
                changes[key] = value in ("1", "yes", "true")
            else:
                changes[key] = value
        out.append((pattern, replace(base, **changes)))
    return out


def spec_for(name: str, base: QuantSpec, overrides: list[tuple[str, QuantSpec]]) -> QuantSpec:
    for pattern, spec in overrides:
        if fnmatch.fnmatchcase(name, pattern):
            return spec
    return base


def quantize_weight(w: np.ndarray, spec: QuantSpec, sq_mean: np.ndarray | None = None,
                    fisher: np.ndarray | None = None, threads: int = 0,
                    second_moment: Any = None) -> QuantizedWeight:
    """One (rows, cols) weight by ``spec``; ``sq_mean`` (cols,), ``fisher`` (rows, cols) and
    ``second_moment`` (E[x x^T], for ``refine``) are the calibration statistics it needs."""
    rows, cols = w.shape
    importance = None
    if spec.scheme in ("codebook", "iq4nl") and spec.weighting != "none":
        if spec.weighting == "act":
            if sq_mean is None:
                raise ConfigError("act weighting needs calibration statistics (--calib)")
            importance = np.broadcast_to(sq_mean.astype(np.float32)[None, :], (rows, cols))
        else:
            if fisher is None:
                raise ConfigError("fisher weighting needs calibration gradients (--calib)")
            importance = fisher
    if spec.scheme == "codebook":
        mask = None
        label = None
        if spec.prune is not None:
            mask = prune_mod.mask_for(w, spec.prune, spec.prune_method, sq_mean)
            label = prune_mod.prune_label(spec.prune)
        gr, gc = spec.codebook_groups(rows, cols)
        q = quantize_codebook(w, spec.bits, gr, gc, importance, mask, label, threads)
        if spec.refine:
            from eie.llm.refine import refine_codebooks

            if second_moment is None:
                raise ConfigError("refine needs calibration inputs (--calib)")
            q = refine_codebooks(q, w, second_moment)
        return q
    if spec.scheme == "int":
        return quantize_int(w, spec.bits, spec.group or DEFAULT_GROUP["int"])
    if spec.scheme == "nf4":
        return quantize_nf4(w, spec.group or DEFAULT_GROUP["nf4"])
    if spec.scheme == "iq4nl":
        return quantize_iq4nl(w, spec.group or DEFAULT_GROUP["iq4nl"], importance)
    if spec.scheme in ("fp16", "bf16"):
        return quantize_float(w, spec.scheme)
    raise ConfigError(f"cannot quantize with scheme {spec.scheme!r}")


@dataclass
class QuantizedModel:
    """A loaded model whose Linear weights have been replaced by their dequantized values."""

    loaded: Any
    """``eie.llm.sources.LoadedModel`` (its torch model now holds the dequantized weights)."""
    layers: dict[str, QuantizedWeight]
    spec: QuantSpec
    overrides: list[tuple[str, QuantSpec]] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def bits_per_weight(self) -> float:
        """Over every Linear weight of the model (kept float32 layers count 32 bits)."""
        return float(self.report.get("bits_per_weight", float("nan")))


def relative_errors(w: np.ndarray, q: np.ndarray, sq_mean: np.ndarray | None) -> dict[str, float]:
    d2 = (w.astype(np.float64) - q) ** 2
    w2 = w.astype(np.float64) ** 2
    out = {"rel_error": float(d2.sum() / max(w2.sum(), 1e-300))}
    if sq_mean is not None:
        a = sq_mean.astype(np.float64)
        out["rel_output_error"] = float((d2.sum(axis=0) @ a) / max(w2.sum(axis=0) @ a, 1e-300))
    return out


def quantize_model(loaded: Any, spec: QuantSpec, calib_text: str | None = None, *,
                   overrides: list[tuple[str, QuantSpec]] | None = None, context: int = 512,
                   calib_tokens: int | None = 4096, threads: int = 0,
                   layers: list[str] | None = None, calibration: Any = None,
                   progress: Callable[[str, int, int], None] | None = None,
                   lm_head: bool = False) -> QuantizedModel:
    """Quantize ``loaded``'s Linear layers in place (their weights become the dequantized ones).

    ``lm_head=True`` quantizes the LM head too (by ``spec`` and the overrides, under the name
    ``lm_head``): a head tied to the input embedding is untied first (``untie_lm_head``), so
    the embedding lookup keeps its float32 values and only the output projection changes.

    ``layers`` restricts the work to those names (others are kept; for tests and slices).
    ``calibration`` reuses statistics measured on the same unquantized model (``calibrate``).
    ``progress(stage, done, total)`` is called as work advances.
    """
    from eie.llm.calibrate import calibrate, linear_modules, num_batches

    overrides = overrides or []
    if lm_head:
        untie_lm_head(loaded.model)
    linears = linear_modules(loaded.model)
    if layers is not None:
        unknown = sorted(set(layers) - set(linears))
        if unknown:
            raise ConfigError(f"no Linear layer named {unknown[0]!r}")
        linears = {n: m for n, m in linears.items() if n in layers}
    specs = {n: spec_for(n, spec, overrides) for n in linears}
    need_cal = any(s.needs_calibration for s in specs.values())
    need_fisher = any(s.weighting == "fisher" and s.needs_calibration for s in specs.values())
    need_h = any(s.refine and s.scheme == "codebook" for s in specs.values())
    cal = calibration
    t0 = time.perf_counter()
    if need_fisher and cal is not None and not cal.fisher:
        raise ConfigError("fisher weighting needs calibration run with fisher=True")
    if need_h and cal is not None and not cal.second_moment:
        raise ConfigError("refine needs calibration run with second_moment=True")
    if need_cal and cal is None:
        if calib_text is None:
            raise ConfigError("this scheme weights by calibration statistics: give --calib TEXT "
                              "(or --weighting none)")
        total = num_batches(loaded, calib_text, context, calib_tokens)
        done = [0]

        def step() -> None:
            done[0] += 1
            if progress:
                progress("calibrate", done[0], total)

        cal = calibrate(loaded, calib_text, context=context, max_tokens=calib_tokens,
                        fisher=need_fisher, second_moment=need_h, step=step)
    t_cal = time.perf_counter() - t0
    import torch

    result: dict[str, QuantizedWeight] = {}
    per_layer: dict[str, Any] = {}
    total_bits = 0.0
    total_weights = 0
    t1, c1 = time.perf_counter(), time.process_time()
    for i, (name, module) in enumerate(linears.items()):
        s = specs[name]
        w = module.weight.detach().float().numpy()
        n = w.size
        total_weights += n
        sq = None if cal is None else cal.sq_mean.get(name)
        if s.scheme == "keep":
            total_bits += 32 * n
            per_layer[name] = {"scheme": "keep", "bits_per_weight": 32.0}
        else:
            fi = None if cal is None else cal.fisher.get(name)
            h = None if cal is None else cal.second_moment.get(name)
            q = quantize_weight(w, s, sq, fi, threads, h)
            dq = q.dequantize()
            result[name] = q
            total_bits += sum(q.storage_bits().values())
            per_layer[name] = {**q.describe(), **relative_errors(w, dq, sq)}
            module.weight.data = torch.from_numpy(dq)
        if progress:
            progress("quantize", i + 1, len(linears))
    t_q, c_q = time.perf_counter() - t1, time.process_time() - c1
    report = {
        "spec": spec.as_dict(), "label": spec.label(),
        "overrides": [[p, s.as_dict()] for p, s in overrides],
        "bits_per_weight": total_bits / max(total_weights, 1),
        "linear_weights": total_weights, "quantized_layers": len(result),
        "calibration_tokens": 0 if cal is None else cal.tokens,
        "calibration_seconds": t_cal, "quantize_seconds": t_q,
        "quantize_cpu_seconds": c_q, "layers": per_layer,
    }
    return QuantizedModel(loaded, result, spec, overrides, report)


def untie_lm_head(model: Any) -> None:
    """Give the LM head its own copy of a tied input embedding (and say so in the config), so
    that it can be quantized alone; nothing changes for an untied head."""
    import torch

    head, emb = model.get_output_embeddings(), model.get_input_embeddings()
    if head is None or not isinstance(head, torch.nn.Linear):
        raise ConfigError("this model has no Linear LM head to quantize")
    if emb is not None and head.weight is emb.weight:
        head.weight = torch.nn.Parameter(emb.weight.detach().clone(), requires_grad=False)
    model.config.tie_word_embeddings = False
    if hasattr(model, "_tied_weights_keys"):
        model._tied_weights_keys = None


def layer_error_summary(per_layer: Mapping[str, Any]) -> dict[str, float]:
    errs = [v["rel_error"] for v in per_layer.values() if "rel_error" in v]
    return {"rel_error_mean": float(np.mean(errs)) if errs else 0.0,
            "rel_error_max": float(np.max(errs)) if errs else 0.0}


def parse_spec(text: str) -> QuantSpec:
    """``NAME[:key=value,...]`` -> QuantSpec, e.g. ``codebook:bits=3``, ``int4:group=128``,
    ``iq4nl``, ``codebook:codebook=tensor,weighting=none``, ``codebook:prune=2:4``.
    Keys: bits, codebook, group, weighting, prune, prune_method, refine (1/0). A codebook's weighting defaults
    to act; every other scheme's to none."""
    from eie.llm.prune import parse_prune

    name, _, rest = text.partition(":")
    kwargs: dict[str, Any] = {"scheme": name}
    if name in ("int4", "int3"):
        kwargs.update(scheme="int", bits=int(name[3]))
    kwargs["weighting"] = "act" if name == "codebook" else "none"
    if rest:
        for kv in rest.split(","):
            key, sep, value = kv.partition("=")
            if not sep or key not in ("bits", "codebook", "group", "weighting", "prune",
                                      "prune_method", "refine"):
                raise ConfigError(f"spec {text!r}: expected key=value with keys bits, codebook, "
                                  f"group, weighting, prune, prune_method, refine; found {kv!r}")
            if key in ("bits", "group"):
                if not value.isdigit():
                    raise ConfigError(f"spec {text!r}: {key} should be an integer, found "
                                      f"{value!r}")
                kwargs[key] = int(value)
            elif key == "prune":
                kwargs[key] = parse_prune(value)
            elif key == "refine":
                kwargs[key] = value in ("1", "yes", "true")
            else:
                kwargs[key] = value
    if name not in (*SCHEME_NAMES,):
        raise ConfigError(f"spec {text!r}: scheme should be one of {SCHEME_NAMES}")
    return QuantSpec(**kwargs)
