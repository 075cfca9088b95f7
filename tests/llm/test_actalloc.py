"""Activation-sparsity allocation (``eie.llm.actalloc``) on a slice of SmolLM2: the profile's
input groups and error curves, allocations meeting their weighted target, weight-informed
thresholds, and the same zeroing on the engine path as in torch."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest

from eie.errors import ConfigError
from eie.llm import actalloc


@pytest.fixture(scope="module")
def slice1(first_blocks: Any) -> Any:
    """SmolLM2's first block (full embedding, norm and tied LM head), unquantized."""
    return first_blocks(1)


@pytest.fixture(scope="module")
def profiles(slice1: Any, calib_text: str) -> dict[str, actalloc.Profile]:
    return {s: actalloc.profile(slice1, calib_text, score=s, context=64, max_tokens=64,
                                gains=s == "wina")  # gains: the file round trip keeps them
            for s in ("abs", "wina")}


def test_profile_groups_and_curves(profiles: dict[str, actalloc.Profile]) -> None:
    p = profiles["abs"]
    pre = "model.layers.0."
    assert [g.names for g in p.groups] == [
        [pre + "self_attn.q_proj", pre + "self_attn.k_proj", pre + "self_attn.v_proj"],
        [pre + "self_attn.o_proj"], [pre + "mlp.gate_proj", pre + "mlp.up_proj"],
        [pre + "mlp.down_proj"]]
    assert [g.weights for g in p.groups] == [960 * 576, 576 * 576, 3072 * 576, 576 * 1536]
    for g in p.groups:
        assert g.errors.shape == (len(actalloc.PROFILE_LEVELS),)
        assert g.errors[-1] > g.errors[0] >= 0  # sparser inputs, larger block error
        assert g.error(0.0) == 0.0
    assert p.tokens == 64
    # wina: the score scales |x_j| by the column norm of the stacked q/k/v weights
    w = profiles["wina"].groups[0]
    assert w.scale is not None and w.scale.shape == (576,) and np.all(w.scale > 0)


@pytest.mark.parametrize("scope", ["uniform", "block", "model"])
@pytest.mark.parametrize("target", [0.0, 0.25, 0.4])
def test_allocation_meets_its_weighted_target(profiles: dict[str, actalloc.Profile],
                                              scope: str, target: float) -> None:
    p = profiles["abs"]
    levels = p.allocate(target, scope)
    weights = np.array([g.weights for g in p.groups], float)
    assert float(np.dot(levels, weights) / weights.sum()) == pytest.approx(target, abs=1e-9)
    assert all(0.0 <= s <= actalloc.MAX_LEVEL for s in levels)
    err = sum(g.error(s) for g, s in zip(p.groups, levels, strict=True))
    uniform = sum(g.error(target) for g in p.groups)
    assert err <= uniform + 1e-12  # the greedy allocation never does worse than uniform


def test_bad_allocations_are_refused(profiles: dict[str, actalloc.Profile], slice1: Any) -> None:
    p = profiles["abs"]
    with pytest.raises(ConfigError, match="should be in"):
        p.allocate(0.95)
    with pytest.raises(ConfigError, match="allocation should be one of"):
        p.allocate(0.3, "layer")
    with pytest.raises(ConfigError, match="score should be one of"):
        actalloc.profile(slice1, "some text here", score="l2")


def test_thresholds_zero_their_share_on_both_paths(profiles: dict[str, actalloc.Profile],
                                                   slice1: Any, calib_text: str,
                                                   eval_text: str) -> None:
    """Torch (forward pre-hooks) and the engine runtime's decoder zero the same entries: the
    same perplexity with per-column (wina) thresholds; the realised work fraction is near the
    target on the calibration text."""
    from eie.llm import actsparsity
    from eie.llm.calibrate import linear_modules
    from eie.llm.evaluate import perplexity
    from eie.llm.runtime import Runtime

    p = profiles["wina"]
    limits = p.limits(0.4, "block")
    assert isinstance(limits["model.layers.0.mlp.up_proj"], np.ndarray)
    rows = {n: m.weight.shape[0] for n, m in linear_modules(slice1.model).items()}
    with actsparsity.sparse_activations(slice1.model, limits) as counts:
        ref = perplexity(slice1, eval_text, context=64, max_tokens=128)
    assert actalloc.weighted_realised(counts, rows) == pytest.approx(0.4, abs=0.08)
    rt = Runtime(slice1, {}, threads=1)  # every Linear a dense fallback: the zeroing is tested
    rt.set_act_sparsity(limits)
    got = rt.perplexity(eval_text, context=64, max_tokens=128)
    assert got["perplexity"] == pytest.approx(ref["perplexity"], rel=1e-4)
    dense = perplexity(slice1, eval_text, context=64, max_tokens=128)
    assert dense["perplexity"] != pytest.approx(ref["perplexity"], rel=1e-3)


def test_profile_file_round_trip_and_refusals(profiles: dict[str, actalloc.Profile],
                                              tmp_path: Any) -> None:
    from eie.errors import FormatError

    p = profiles["wina"]
    back = actalloc.load_profile(p.save(tmp_path / "p.npz"))
    assert back.score == "wina" and back.tokens == p.tokens and back.gains and p.gains
    for a, b in zip(p.groups, back.groups, strict=True):
        assert a.names == b.names and a.weights == b.weights and a.gain == b.gain
        assert np.array_equal(a.errors, b.errors) and np.array_equal(a.scores, b.scores)
        assert a.scale is not None and b.scale is not None and np.array_equal(a.scale, b.scale)
    la, lb = p.limits(0.35, "model"), back.limits(0.35, "model")
    assert all(np.array_equal(la[n], lb[n]) for n in la)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(FormatError, match="not a valid activation profile"):
        actalloc.load_profile(bad)
    with pytest.raises(ConfigError, match="no such file"):
        actalloc.load_profile(tmp_path / "none.npz")


def _kl(m: Any, limits: dict[str, Any], text: str, tokens: int = 128) -> float:
    """Mean next-token KL(dense || sparse) of ``m`` over the first ``tokens`` of ``text``."""
    import torch

    from eie.llm import actsparsity
    from eie.llm.calibrate import token_windows

    ids = torch.tensor([token_windows(m.tokenizer, text, tokens, tokens)[0]])
    with torch.no_grad():
        lp0 = torch.log_softmax(m.model(input_ids=ids).logits[0].double(), -1)
        with actsparsity.sparse_activations(m.model, limits):
            lp = torch.log_softmax(m.model(input_ids=ids).logits[0].double(), -1)
    return float((lp0.exp() * (lp0 - lp)).sum(-1).mean())


def test_gains_weight_blocks_by_their_end_to_end_cost(first_blocks: Any, calib_text: str,
                                                       eval_text: str) -> None:
    """Three blocks: each block's gain is one positive number shared by its groups, and
    measured as KL per unit of predicted block error (so gain x predicted error reproduces
    the KL at the gain's allocation). The gain-weighted model-scope allocation meets its
    weighted target, predicts no more KL than the unweighted one and, on held-out text, loses
    less KL than the uniform thresholds; a costlier block is given less sparsity in model
    scope, none of this moves block scope. (On these three blocks the measured gains leave the
    model-scope allocation as it was: they differ too little.)"""
    m = first_blocks(3)
    p = actalloc.profile(m, calib_text, context=64, max_tokens=64, gains=True)
    assert p.gains
    by_block: dict[int, set[float]] = {}
    for g in p.groups:
        by_block.setdefault(g.block, set()).add(g.gain)
    assert sorted(by_block) == [0, 1, 2]
    assert all(len(v) == 1 and np.isfinite(min(v)) and min(v) > 0 for v in by_block.values())
    # the gain reproduces the KL of block 0 alone at its block-scope allocation
    levels = p.allocate(actalloc.GAIN_TARGET, "block")
    b0 = [(g, s) for g, s in zip(p.groups, levels, strict=True) if g.block == 0]
    kl0 = _kl(m, {n: g.limit(s) for g, s in b0 for n in g.names}, calib_text,
              actalloc.GAIN_TOKENS)
    assert b0[0][0].gain * sum(g.error(s) for g, s in b0) == pytest.approx(kl0, rel=1e-6)

    flat = copy.deepcopy(p)
    for g in flat.groups:
        g.gain = 1.0
    target = 0.4
    weights = np.array([g.weights for g in p.groups], float)
    weighted, unweighted = p.allocate(target, "model"), flat.allocate(target, "model")
    assert float(np.dot(weighted, weights) / weights.sum()) == pytest.approx(target, abs=1e-9)

    def predicted(levels: list[float]) -> float:
        return sum(g.gain * g.error(s) for g, s in zip(p.groups, levels, strict=True))

    assert predicted(weighted) <= predicted(unweighted) + 1e-12
    assert _kl(m, p.limits(target, "model"), eval_text) < _kl(m, p.limits(target, "uniform"),
                                                              eval_text)

    def block_level(prof: actalloc.Profile, levels: list[float], b: int) -> float:
        gs = [(g.weights, s) for g, s in zip(prof.groups, levels, strict=True) if g.block == b]
        return sum(w * s for w, s in gs) / sum(w for w, _ in gs)

    # a block made 100x costlier gives up sparsity to the others (model scope only)
    for g in flat.groups:
        g.gain = 100.0 if g.block == 1 else 1.0
    moved = flat.allocate(target, "model")
    assert float(np.dot(moved, weights) / weights.sum()) == pytest.approx(target, abs=1e-9)
    assert block_level(flat, moved, 1) < block_level(flat, unweighted, 1) - 0.05
    assert flat.allocate(target, "block") == p.allocate(target, "block")
