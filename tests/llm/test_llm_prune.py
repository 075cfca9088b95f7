"""Pruning masks: N:M along the input dimension, per-row fractions, Wanda's activation term."""

from __future__ import annotations

import numpy as np
import pytest

from eie.errors import ConfigError
from eie.llm.prune import mask_for, parse_prune


def test_n_m_keeps_n_largest_of_every_m_consecutive_inputs() -> None:
    w = np.random.default_rng(0).standard_normal((16, 30)).astype(np.float32)
    m = mask_for(w, (2, 4))
    blocks = m[:, :28].reshape(16, 7, 4)
    assert np.all(blocks.sum(axis=2) == 2)
    assert np.all(m[:, 28:].sum(axis=1) == 2)  # the last block of 2 keeps min(2, 2)
    a = np.abs(w[:, :28]).reshape(16, 7, 4)
    kept_min = np.where(blocks, a, np.inf).min(axis=2)
    dropped_max = np.where(~blocks, a, -np.inf).max(axis=2)
    assert np.all(kept_min >= dropped_max)


def test_fraction_is_per_row_and_wanda_uses_activations() -> None:
    w = np.ones((4, 10), np.float32)
    w[:, 0] = 0.5  # smallest magnitude, but its input channel is the loudest
    sq = np.ones(10, np.float32)
    sq[0] = 100.0
    mag = mask_for(w, 0.1)
    assert np.all(mag.sum(axis=1) == 9) and not mag[:, 0].any()
    wanda = mask_for(w, 0.1, "wanda", sq)
    assert wanda[:, 0].all()


@pytest.mark.parametrize("text", ["0", "1", "abc", "4:2", "2:4:8", "0:4"])
def test_bad_patterns(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_prune(text)


def test_wanda_needs_statistics() -> None:
    with pytest.raises(ConfigError, match="calibration"):
        mask_for(np.ones((2, 4), np.float32), 0.5, "wanda")
