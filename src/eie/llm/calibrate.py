"""Calibration on a text: per-input-channel E[x^2] of every Linear, diagonal Fisher, and samples
of |x| for activation-sparsity thresholds.

Text is tokenized once; a causal LM sees it as consecutive windows of ``context`` tokens, an
encoder as its non-empty lines (sentences), batched. ``max_tokens`` bounds the work.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from eie.errors import ConfigError

SAMPLES_PER_LAYER = 65536
"""|x| values kept per Linear input for threshold quantiles (a fixed-seed random subsample)."""


def read_text(path: str | Path, what: str = "text") -> str:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: no such file; expected a UTF-8 {what} file")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{p}: not a readable UTF-8 {what} file ({type(e).__name__})") from None
    if not text.strip():
        raise ConfigError(f"{p}: the {what} file is empty; expected some text")
    return text


def sentences_of(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def linear_modules(model: Any) -> dict[str, Any]:
    """Every ``torch.nn.Linear`` by qualified name, except one whose weight is the input
    embedding (a tied LM head: embeddings are kept)."""
    import torch

    emb = model.get_input_embeddings()
    emb_w = None if emb is None else emb.weight
    return {name: m for name, m in model.named_modules()
            if isinstance(m, torch.nn.Linear) and m.weight is not emb_w}


def token_windows(tokenizer: Any, text: str, context: int, max_tokens: int | None
                  ) -> list[list[int]]:
    """Consecutive windows of ``context`` token ids (the last may be shorter, >= 2 tokens)."""
    if context < 2:
        raise ConfigError(f"context should be >= 2 tokens, found {context}")
    ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])
    if max_tokens is not None:
        ids = ids[:max_tokens]
    if len(ids) < 2:
        raise ConfigError(f"the text gives {len(ids)} token(s); expected at least 2")
    return [ids[i:i + context] for i in range(0, len(ids), context) if len(ids[i:i + context]) > 1]


def sentence_batches(sentences: list[str], batch: int = 32) -> Iterator[list[str]]:
    for i in range(0, len(sentences), batch):
        yield sentences[i:i + batch]


@dataclass
class Calibration:
    """What a calibration run measured, by Linear name."""

    sq_mean: dict[str, np.ndarray] = field(default_factory=dict)
    """E[x^2] per input channel, float32 (cols,)."""
    fisher: dict[str, np.ndarray] = field(default_factory=dict)
    """Mean squared gradient of the loss per weight entry, float32 (rows, cols)."""
    abs_samples: dict[str, np.ndarray] = field(default_factory=dict)
    """A random subsample of |x| of the layer's inputs (activation-sparsity thresholds)."""
    second_moment: dict[str, Any] = field(default_factory=dict)
    """E[x x^T] of the layer's inputs, torch float32 (cols, cols) (centroid refinement)."""
    tokens: int = 0


def forward_batches(loaded: Any, text: str, context: int, max_tokens: int | None
                    ) -> list[dict[str, Any]]:
    """Model inputs covering the text: token windows (causal LM) or sentence batches (encoder)."""
    import torch

    tok = loaded.tokenizer
    if loaded.kind == "causal-lm":
        return [{"input_ids": torch.tensor([w])} for w in token_windows(tok, text, context,
                                                                         max_tokens)]
    sents = sentences_of(text)
    if not sents:
        raise ConfigError("the calibration text has no non-empty line; expected sentences")
    out, total = [], 0
    for b in sentence_batches(sents):
        enc = tok(b, padding=True, truncation=True, max_length=min(context, 512),
                  return_tensors="pt")
        out.append(dict(enc))
        total += int(enc["attention_mask"].sum())
        if max_tokens is not None and total >= max_tokens:
            break
    return out


def calibrate(loaded: Any, text: str, *, context: int = 512, max_tokens: int | None = 4096,
              fisher: bool = False, samples: bool = False, second_moment: bool = False,
              step: Callable[[], None] | None = None) -> Calibration:
    """Run the model over ``text`` and record, for every Linear, E[x^2] per input channel (always),
    the diagonal Fisher of its weight (``fisher=True``: causal LMs only, next-token loss), and a
    subsample of |x| (``samples=True``) and E[x x^T] (``second_moment=True``). ``step`` is called
    after each batch (progress)."""
    import torch

    if not text.strip():
        raise ConfigError("the calibration text is empty; expected some text")
    if fisher and loaded.kind != "causal-lm":
        raise ConfigError("fisher weighting needs a causal LM (next-token loss); use "
                          "--weighting act for encoders")
    model = loaded.model
    linears = linear_modules(model)
    batches = forward_batches(loaded, text, context, max_tokens)
    sums: dict[str, torch.Tensor] = {}
    outer: dict[str, torch.Tensor] = {}
    counts: dict[str, int] = dict.fromkeys(linears, 0)
    pools: dict[str, list[torch.Tensor]] = {n: [] for n in linears}
    gen = torch.Generator().manual_seed(0)
    per_batch = max(1, SAMPLES_PER_LAYER // max(1, len(batches)))
    mask_holder: dict[str, torch.Tensor | None] = {"mask": None}

    def hook(name: str) -> Callable[..., None]:
        def fn(_m: Any, inputs: tuple[Any, ...]) -> None:
            x = inputs[0].detach()
            x2 = x.reshape(-1, x.shape[-1]).float()
            am = mask_holder["mask"]
            if am is not None and am.numel() == x2.shape[0]:
                x2 = x2[am.reshape(-1).bool()]  # padding tokens of an encoder batch do not count
            s = (x2 * x2).sum(dim=0)
            sums[name] = sums[name] + s if name in sums else s
            if second_moment:
                xx = x2.T @ x2
                outer[name] = outer[name] + xx if name in outer else xx
            counts[name] += x2.shape[0]
            if samples and x2.numel():
                flat = x2.abs().reshape(-1)
                idx = torch.randint(0, flat.numel(), (per_batch,), generator=gen)
                pools[name].append(flat[idx])
        return fn

    handles = [m.register_forward_pre_hook(hook(n)) for n, m in linears.items()]
    fisher_acc: dict[str, torch.Tensor] = {}
    result = Calibration()
    try:
        for batch in batches:
            mask_holder["mask"] = batch.get("attention_mask")
            result.tokens += int(batch["input_ids"].numel() if "attention_mask" not in batch
                                 else batch["attention_mask"].sum())
            if fisher:
                model.zero_grad(set_to_none=True)
                with torch.enable_grad():
                    out = model(**batch, labels=batch["input_ids"])
                    out.loss.backward()
                for n, m in linears.items():
                    g = m.weight.grad
                    if g is not None:
                        g2 = g.detach().float() ** 2
                        fisher_acc[n] = fisher_acc[n] + g2 if n in fisher_acc else g2
            else:
                with torch.no_grad():
                    model(**batch)
            if step is not None:
                step()
    finally:
        for h in handles:
            h.remove()
        model.zero_grad(set_to_none=True)
    for n in linears:
        if n in sums and counts[n]:
            result.sq_mean[n] = (sums[n] / counts[n]).numpy().astype(np.float32)
        if n in fisher_acc:
            result.fisher[n] = (fisher_acc[n] / len(batches)).numpy().astype(np.float32)
        if pools[n]:
            result.abs_samples[n] = torch.cat(pools[n]).numpy().astype(np.float32)
        if n in outer and counts[n]:
            result.second_moment[n] = outer[n] / counts[n]
    return result


def num_batches(loaded: Any, text: str, context: int, max_tokens: int | None) -> int:
    return len(forward_batches(loaded, text, context, max_tokens))
