"""Centroid refinement lowers the output error it minimises, and keeps codes and bits."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from eie.errors import ConfigError
from eie.llm.refine import refine_codebooks
from eie.llm.schemes import quantize_codebook


def output_error(w: np.ndarray, q: np.ndarray, h: np.ndarray) -> float:
    d = (w - q).astype(np.float64)
    return float(np.einsum("ri,ij,rj->", d, h, d))


@pytest.mark.parametrize("group_rows", [1, 4])
def test_refined_centroids_lower_the_output_error(group_rows: int) -> None:
    rng = np.random.default_rng(0)
    rows, cols = 32, 48
    w = (rng.standard_normal((rows, cols)) * 0.05).astype(np.float32)
    # Correlated inputs: the off-diagonal of E[x x^T] is what refinement uses.
    mix = rng.standard_normal((cols, cols)).astype(np.float32) / np.sqrt(cols)
    x = rng.standard_normal((4096, cols)).astype(np.float32) @ (np.eye(cols) + 2 * mix)
    h = (x.T @ x / len(x)).astype(np.float32)
    q = quantize_codebook(w, 3, group_rows=group_rows, importance=np.diag(h))
    r = refine_codebooks(q, w, torch.from_numpy(h))
    assert np.array_equal(r.codes, q.codes) and r.bits_per_weight == q.bits_per_weight
    before, after = output_error(w, q.dequantize(), h), output_error(w, r.dequantize(), h)
    assert after < before
    # The optimum for these codes, by least squares in float64 on H's Cholesky factor.
    lt = np.linalg.cholesky(h.astype(np.float64)).T
    k = 8
    best = 0.0
    for g0 in range(0, rows, group_rows):
        a = np.concatenate([np.eye(k)[q.codes[r]] for r in range(g0, g0 + group_rows)])
        m = np.kron(np.eye(group_rows), lt)
        target = m @ w[g0:g0 + group_rows].astype(np.float64).ravel()
        c, *_ = np.linalg.lstsq(m @ a, target, rcond=None)
        best += float(np.sum((target - m @ a @ c) ** 2))
    assert after == pytest.approx(best, rel=2e-3)  # fp16 centroids: a hair above the optimum


def test_refine_refuses_column_groups_and_other_schemes() -> None:
    w = np.ones((4, 8), np.float32) * np.arange(8, dtype=np.float32)
    h = torch.eye(8)
    with pytest.raises(ConfigError):
        refine_codebooks(quantize_codebook(w, 2, group_cols=4), w, h)
