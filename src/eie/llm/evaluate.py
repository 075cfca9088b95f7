"""Quality of a (quantized) model, run in torch with its dequantized weights.

- causal LMs: ``perplexity`` over consecutive windows of ``context`` tokens of a text (each
  window predicts its own tokens 2..n; windows do not overlap);
- encoders: mean-pooled (attention-masked) sentence embeddings, compared with a reference model
  by cosine similarity (``cosine_mean``, ``cosine_min``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from eie.errors import ConfigError
from eie.llm.calibrate import sentence_batches, token_windows


def perplexity(loaded: Any, text: str, context: int = 512, max_tokens: int | None = None,
               step: Callable[[int, int], None] | None = None) -> dict[str, float]:
    import torch

    if loaded.kind != "causal-lm":
        raise ConfigError(f"perplexity needs a causal LM; {loaded.source} is an encoder (use "
                          "--reference SOURCE --sentences FILE)")
    windows = token_windows(loaded.tokenizer, text, context, max_tokens)
    nll, count = 0.0, 0
    with torch.no_grad():
        for i, w in enumerate(windows):
            ids = torch.tensor([w])
            logits = loaded.model(input_ids=ids).logits[0, :-1].float()
            nll += float(torch.nn.functional.cross_entropy(logits, ids[0, 1:], reduction="sum"))
            count += len(w) - 1
            if step:
                step(i + 1, len(windows))
    return {"perplexity": math.exp(nll / count), "tokens": count + len(windows),
            "predicted_tokens": count, "windows": len(windows), "context": context}


def embeddings(loaded: Any, sentences: list[str], max_length: int = 256,
               step: Callable[[int, int], None] | None = None) -> np.ndarray:
    """``(len(sentences), hidden)`` float32 mean-pooled last hidden states."""
    import torch

    if loaded.kind != "encoder":
        raise ConfigError(f"embeddings need an encoder; {loaded.source} is a causal LM (use "
                          "--text FILE for perplexity)")
    if not sentences:
        raise ConfigError("no sentences given; expected a file with one sentence per line")
    out = []
    batches = list(sentence_batches(sentences))
    with torch.no_grad():
        for i, b in enumerate(batches):
            enc = loaded.tokenizer(b, padding=True, truncation=True, max_length=max_length,
                                   return_tensors="pt")
            h = loaded.model(**enc).last_hidden_state
            m = enc["attention_mask"].unsqueeze(-1).to(h.dtype)
            out.append(((h * m).sum(1) / m.sum(1).clamp(min=1)).numpy())
            if step:
                step(i + 1, len(batches))
    return np.concatenate(out).astype(np.float32)


def cosine(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    c = (a64 * b64).sum(1) / np.maximum(np.linalg.norm(a64, axis=1) * np.linalg.norm(b64, axis=1),
                                        1e-300)
    return {"cosine_mean": float(c.mean()), "cosine_min": float(c.min()),
            "sentences": len(c)}
