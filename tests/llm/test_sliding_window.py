"""Sliding-window attention in the engine runtime's decoder against transformers' forward, on
small random Mistral and Qwen2 models (every Linear a dense fallback: the attention is tested)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

LOGITS_ATOL = 1e-4
"""float32 logits of a 2-layer random model (|logits| < 1): rounding only."""


def _model(kind: str, window: int) -> Any:
    tf = pytest.importorskip("transformers", reason="needs the llm extra")
    import torch

    common = {"vocab_size": 97, "hidden_size": 32, "intermediate_size": 64,
              "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
              "max_position_embeddings": 64, "sliding_window": window}
    if kind == "mistral":
        cfg = tf.MistralConfig(**common)
    else:  # layer 0 full attention, layer 1 sliding
        cfg = tf.Qwen2Config(**common, use_sliding_window=True, max_window_layers=1)
    torch.manual_seed(0)
    model = tf.AutoModelForCausalLM.from_config(cfg, attn_implementation="eager")
    return model.eval()


@pytest.mark.parametrize("kind, windows", [("mistral", [5, 5]), ("qwen2", [None, 5])])
def test_sliding_window_matches_transformers(kind: str, windows: list[int | None]) -> None:
    import torch

    from eie.llm.decoder import Decoder

    model = _model(kind, 5)
    dec = Decoder(model, {}, threads=1)
    assert dec.windows == windows
    ids = list(np.random.default_rng(1).integers(0, 97, 23))
    with torch.no_grad():
        ref = model(input_ids=torch.tensor([ids]), use_cache=False).logits[0].numpy()
    # the window changes the result: a model without it differs past the window
    dec.reset(len(ids))
    prefill = dec.forward(ids, all_logits=True)
    assert np.abs(prefill - ref).max() < LOGITS_ATOL
    # prompt of 7, then one token at a time (the decode path's window slice)
    dec.reset(len(ids))
    steps = [dec.forward(ids[:7])]
    steps += [dec.forward([t]) for t in ids[7:]]
    got = np.stack(steps)
    assert np.abs(got - ref[6:]).max() < LOGITS_ATOL
    dec.windows = [None, None]
    dec.reset(len(ids))
    assert np.abs(dec.forward(ids, all_logits=True) - ref).max() > 100 * LOGITS_ATOL
