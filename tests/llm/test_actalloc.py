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
def slice1(smollm2: Any) -> Any:
    """SmolLM2's first block (full embedding, norm and tied LM head), unquantized."""
    m = copy.copy(smollm2)
    m.model = copy.deepcopy(smollm2.model)
    m.model.model.layers = m.model.model.layers[:1]
    m.model.config.num_hidden_layers = 1
    if getattr(m.model.config, "layer_types", None):
        m.model.config.layer_types = m.model.config.layer_types[:1]
    return m


@pytest.fixture(scope="module")
def profiles(slice1: Any, calib_text: str) -> dict[str, actalloc.Profile]:
    return {s: actalloc.profile(slice1, calib_text, score=s, context=64, max_tokens=64)
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
    assert back.score == "wina" and back.tokens == p.tokens
    for a, b in zip(p.groups, back.groups, strict=True):
        assert a.names == b.names and a.weights == b.weights
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
