"""Run a quantized transformer with every quantized Linear layer on eie's kernels.

Usage (with quantized model files, so not run as a doctest)::

    rt = load_runtime("smollm2.eie", threads=2)
    r = rt.generate("The engine", max_new_tokens=32)          # greedy; seed/temperature/top_k/top_p
    r.text, r.tokens_per_s, r.breakdown                        # where the time went, by stage
    rt.perplexity(text)                                        # causal LMs, on the same path
    load_runtime("minilm.eie").embed(["a sentence", "another"])  # encoders: (n, hidden) float32

API (kept small: other parts of eie call it):

- ``load_runtime(path, threads=None) -> Runtime`` for a quantized ``.eie`` transformer file;
  ``Runtime(loaded, quantized, threads)`` for a model quantized in this process
  (``eie.llm.quantize.quantize_model``'s ``.loaded`` and ``.layers``).
- ``Runtime.generate(prompt, max_new_tokens, temperature=0, top_k=0, top_p=1, seed=0, ...)``
  -> ``Generation`` (decoders: KV cache, batch 1).
- ``Runtime.embed(sentences) -> (n, hidden)`` mean-pooled embeddings (encoders).
- ``Runtime.perplexity(text, context, max_tokens)`` (decoders), ``Runtime.set_act_sparsity``.

Decoders run on ``eie.llm.decoder`` (numpy between the kernels); encoders run transformers'
torch forward with each quantized ``nn.Linear`` replaced by a module calling the kernels.
Linear layers the kernels cannot take unchanged (4-bit pruned, fp16/bf16, kept float32 ones,
the tied LM head) run as float32 dense matrices; ``layers()`` says which ran where.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from eie.errors import ConfigError
from eie.llm.decoder import STAGES, Decoder
from eie.llm.engine_linear import (
    EngineLinear,
    build_linear,
    zero_skip_min_level,
    zero_skipping_layout,
)
from eie.llm.qweight import QuantizedWeight
from eie.llm.sampling import Sampler


@dataclass
class Generation:
    """What ``Runtime.generate`` produced, and where its time went (seconds unless named)."""

    text: str
    """The continuation only (the prompt not included)."""
    prompt_tokens: int
    token_ids: list[int]
    seconds: float
    """Wall time of the whole generation (prefill of the prompt included)."""
    cpu_seconds: float
    """The calling thread's CPU time over the same span (``time.thread_time``)."""
    prefill_seconds: float
    decode_seconds: float
    breakdown: dict[str, float] = field(default_factory=dict)
    """Decode steps only, by stage: the decoder's stages (``eie.llm.decoder``), ``sampling``,
    and ``python`` (the rest: the loop, tokenizer and bookkeeping)."""
    threads: int = 0

    @property
    def new_tokens(self) -> int:
        return len(self.token_ids)

    @property
    def tokens_per_s(self) -> float:
        """New tokens / whole wall time (prefill included)."""
        return self.new_tokens / self.seconds if self.seconds > 0 else math.inf

    @property
    def decode_tokens_per_s(self) -> float:
        """Tokens produced by decode steps (all but the first) / their wall time."""
        steps = self.new_tokens - 1
        return steps / self.decode_seconds if steps > 0 and self.decode_seconds > 0 else math.nan

    def as_dict(self) -> dict[str, Any]:
        steps = max(self.new_tokens - 1, 1)
        return {"text": self.text, "prompt_tokens": self.prompt_tokens,
                "new_tokens": self.new_tokens, "token_ids": self.token_ids,
                "tokens_per_s": self.tokens_per_s,
                "decode_tokens_per_s": self.decode_tokens_per_s, "seconds": self.seconds,
                "cpu_seconds": self.cpu_seconds, "prefill_seconds": self.prefill_seconds,
                "decode_seconds": self.decode_seconds, "threads": self.threads,
                "breakdown_ms_per_token": {k: 1e3 * v / steps for k, v in self.breakdown.items()}}


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """torch's intra-op thread count set to ``threads`` inside the block (dense fallbacks and
    an encoder's torch operations), restored after."""
    import torch

    if threads is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class Runtime:
    """A loaded transformer prepared for the engine (see the module docstring)."""

    def __init__(self, loaded: Any, quantized: Mapping[str, QuantizedWeight],
                 threads: int | None = None, fuse: bool = True, precision: str = "fp32",
                 head_dtype: str = "float32") -> None:
        from eie.engine.kernels import check_precision, check_threads

        if threads is not None:
            check_threads(threads)
        self.precision = check_precision(precision)
        self.loaded = loaded
        self.kind = str(loaded.kind)
        self.tokenizer = loaded.tokenizer
        self.threads = threads
        self.quantized = dict(quantized)
        self._linears: list[EngineLinear] = []
        self.decoder: Decoder | None = None
        with torch_threads(threads):
            if self.kind == "causal-lm":
                self.decoder = Decoder(loaded.model, self.quantized, threads, fuse,
                                       self.precision, head_dtype)
                self._linears = [*self.decoder.linears, self.decoder.lm_head]
            else:
                self._linears = _swap_encoder(loaded.model, self.quantized, threads,
                                              self.precision)

    # ------------------------------------------------------------------------------ reports
    def layers(self) -> list[dict[str, Any]]:
        """Each runtime Linear: name, shape, ``engine`` or ``dense-fallback``, bytes read per
        token."""
        return [{"name": lin.name, "shape": [lin.rows, lin.cols], "kind": lin.kind,
                 "stream_bytes": lin.stream_bytes} for lin in self._linears]

    def linear_stream_bytes(self, engine_only: bool = True) -> int:
        """Bytes the decoder layers' Linear multiplies read per token (LM head excluded)."""
        lins = self.decoder.linears if self.decoder is not None else self._linears
        return sum(lin.stream_bytes for lin in lins if lin.kind == "engine" or not engine_only)

    def _need(self, kind: str, what: str) -> Decoder:
        if self.kind != kind or (kind == "causal-lm" and self.decoder is None):
            raise ConfigError(f"{what} needs a {'causal LM' if kind == 'causal-lm' else 'encoder'}"
                              f"; this model is {'a causal LM' if self.kind == 'causal-lm' else 'an encoder'}")
        assert self.decoder is not None or kind == "encoder"
        return self.decoder  # type: ignore[return-value]

    def set_act_sparsity(self, limits: Mapping[str, Any], zero_skipping: bool | None = None,
                         levels: Mapping[str, float] | None = None) -> None:
        """Per-Linear activation thresholds (``eie.llm.actsparsity.thresholds``, or
        ``eie.llm.actalloc.Profile.limits``: numbers or per-column vectors); {} for none.

        ``zero_skipping`` (default: when some threshold is above 0) moves the decoder's engine
        Linear layers to the engine's zero-skipping layout for per-row codebooks
        (``engine_linear.zero_skipping_layout``) when this build has one, and back to the
        default layout otherwise; ``True`` where the build has none is refused. ``levels``
        (model Linear name -> the fraction of its inputs the threshold zeroes on the
        calibration text, e.g. ``actalloc.Profile.levels``) keeps a Linear whose level is below
        the ISA's break-even (``engine_linear.zero_skip_min_level``) on the default layout, which
        is then faster; without it every thresholded Linear moves. Under ``precision="int8"``
        where the int8 kernel runs, none moves (the zero inputs still count: they are zeros)."""
        dec = self._need("causal-lm", "activation sparsity")
        dec.set_thresholds(limits)
        lay = zero_skipping_layout()
        active = any(np.any(np.asarray(v) > 0) for v in limits.values())
        want = active if zero_skipping is None else bool(zero_skipping)
        if want and lay is None and zero_skipping:
            raise ConfigError("this build of the engine has no zero-skipping layout for per-row "
                              "codebooks; the rowwise layout reads every input")
        floor = zero_skip_min_level(precision=self.precision)
        if levels is None:
            levels = getattr(limits, "levels", None)  # actsparsity.Thresholds carry them
        moved = kept = 0
        for b in dec.blocks:
            for name, lins in ((b.qkv_name, b.qkv), (b.o_name, [b.o]), (b.gu_name, b.gate_up),
                               (b.down_name, [b.down])):
                level = None if levels is None else float(levels.get(name, 0.0))
                skip = (want and lay is not None and floor <= 1.0
                        and (level is None or level >= floor))
                for lin in lins:
                    lin.set_layout(lay if skip and lay is not None else "auto")
                moved, kept = moved + len(lins) * skip, kept + len(lins) * (not skip)
        dec.replan()  # the one-call plan refers to the layers' engines: the new layouts'
        self.linear_layout = ("auto" if moved == 0 or lay is None else lay if kept == 0 else
                              f"{lay} on {moved} of {moved + kept} Linear layers")

    linear_layout = "auto"
    """The decoder Linear layers' engine layout (``set_act_sparsity``)."""

    # ------------------------------------------------------------------------------ decoders
    def encode_prompt(self, prompt: str | list[int], chat: bool = False) -> list[int]:
        if isinstance(prompt, list):
            return [int(t) for t in prompt]
        if not isinstance(prompt, str) or not prompt:
            raise ConfigError("the prompt should be a non-empty text")
        tok = self.tokenizer
        if chat:
            if not getattr(tok, "chat_template", None):
                raise ConfigError("this model's tokenizer has no chat template; drop --chat")
            ids = tok.apply_chat_template([{"role": "user", "content": prompt}],
                                          add_generation_prompt=True, tokenize=True)
            if isinstance(ids, Mapping) or hasattr(ids, "keys"):
                ids = ids["input_ids"]
            return [int(t) for t in ids]
        return [int(t) for t in tok(prompt)["input_ids"]]

    def generate(self, prompt: str | list[int], max_new_tokens: int, *, temperature: float = 0.0,
                 top_k: int = 0, top_p: float = 1.0, seed: int = 0, stop_at_eos: bool = True,
                 chat: bool = False, step: Callable[[int, int], None] | None = None
                 ) -> Generation:
        """Continue ``prompt`` (text, or token ids) by up to ``max_new_tokens`` tokens: greedy
        with ``temperature=0``, else sampled (``eie.llm.sampling.Sampler``). Stops at the
        tokenizer's end-of-sequence token unless ``stop_at_eos=False``."""
        dec = self._need("causal-lm", "generate")
        if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) \
                or max_new_tokens < 1:
            raise ConfigError(f"the number of new tokens should be a positive integer, found "
                              f"{max_new_tokens!r}")
        sampler = Sampler(float(temperature), int(top_k), float(top_p), int(seed))
        ids = self.encode_prompt(prompt, chat)
        if not ids:
            raise ConfigError("the prompt gives no tokens")
        dec.reset(len(ids) + max_new_tokens)
        eos = getattr(self.tokenizer, "eos_token_id", None) if stop_at_eos else None
        out: list[int] = []
        clock = time.perf_counter
        with torch_threads(self.threads):
            w0, c0 = clock(), time.thread_time()
            logits = dec.forward(ids)
            tok = sampler(logits)
            out.append(tok)
            w1 = clock()
            dec.reset_times()
            sampling = 0.0
            if step:
                step(1, max_new_tokens)
            while len(out) < max_new_tokens and tok != eos:
                logits = dec.forward([tok])
                t = clock()
                tok = sampler(logits)
                sampling += clock() - t
                out.append(tok)
                if step:
                    step(len(out), max_new_tokens)
            w2, c2 = clock(), time.thread_time()
        breakdown = {k: dec.times[k] for k in STAGES}
        breakdown["sampling"] = sampling
        breakdown["python"] = max(0.0, (w2 - w1) - sum(breakdown.values()))
        text = self.tokenizer.decode(out, skip_special_tokens=True)
        from eie.engine.kernels import default_threads

        return Generation(text, len(ids), out, w2 - w0, c2 - c0, w1 - w0, w2 - w1, breakdown,
                          self.threads or default_threads())

    def perplexity(self, text: str, context: int = 512, max_tokens: int | None = None,
                   step: Callable[[int, int], None] | None = None) -> dict[str, Any]:
        """As ``eie.llm.evaluate.perplexity`` (same windows), on the engine's path."""
        from eie.llm.calibrate import token_windows

        dec = self._need("causal-lm", "perplexity")
        windows = token_windows(self.tokenizer, text, context, max_tokens)
        nll, count = 0.0, 0
        with torch_threads(self.threads):
            for i, w in enumerate(windows):
                dec.reset(len(w))
                logits = dec.forward(w, all_logits=True)[:-1].astype(np.float64)
                m = logits.max(axis=1, keepdims=True)
                lse = (m[:, 0] + np.log(np.exp(logits - m).sum(axis=1)))
                nll += float((lse - logits[np.arange(len(w) - 1), w[1:]]).sum())
                count += len(w) - 1
                if step:
                    step(i + 1, len(windows))
        return {"perplexity": math.exp(nll / count), "tokens": count + len(windows),
                "predicted_tokens": count, "windows": len(windows), "context": context}

    # ------------------------------------------------------------------------------ encoders
    def embed(self, sentences: list[str], max_length: int = 256,
              step: Callable[[int, int], None] | None = None) -> np.ndarray:
        """``(len(sentences), hidden)`` float32 mean-pooled embeddings, Linear layers on the
        kernels."""
        from eie.llm.evaluate import embeddings

        self._need("encoder", "embed")
        with torch_threads(self.threads):
            return embeddings(self.loaded, sentences, max_length, step)


def load_runtime(path: str | os.PathLike[str], threads: int | None = None,
                 precision: str = "fp32", head_dtype: str = "float32") -> Runtime:
    """A ``Runtime`` for a quantized ``.eie`` transformer file (``eie quantize``'s output);
    ``head_dtype`` as ``Decoder``'s."""
    from eie.llm import modelfile

    loaded = modelfile.load(path)
    return Runtime(loaded, loaded.quantized, threads, precision=precision,
                   head_dtype=head_dtype)


# ---------------------------------------------------------------------------------- encoders
def _swap_encoder(model: Any, quantized: Mapping[str, QuantizedWeight], threads: int | None,
                  precision: str = "fp32") -> list[EngineLinear]:
    """Replace each quantized ``nn.Linear`` of ``model`` by a module calling the kernels."""
    import torch

    class EngineModule(torch.nn.Module):
        def __init__(self, lin: EngineLinear) -> None:
            super().__init__()
            self.lin = lin

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            lead = x.shape[:-1]
            xn = x.detach().float().reshape(-1, self.lin.cols).contiguous().numpy()
            return torch.from_numpy(self.lin(xn)).reshape(*lead, self.lin.rows)

    out = []
    for name, q in quantized.items():
        mod = model.get_submodule(name)
        if not isinstance(mod, torch.nn.Linear):
            raise ConfigError(f"{name!r} is not an nn.Linear in the model")
        w = mod.weight.detach().float().numpy()
        b = None if mod.bias is None else mod.bias.detach().float().numpy()
        lin = build_linear(name, q, w, b, threads, precision)
        parent, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent) if parent else model, child, EngineModule(lin))
        out.append(lin)
    return out
