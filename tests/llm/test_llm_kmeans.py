"""Exact weighted 1-D k-means: optimal (brute-force DP), never worse than Lloyd, deterministic."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from eie.errors import ConfigError
from eie.llm.kmeans import kmeans1d, lloyd_kmeans1d


def brute_force_error(x: np.ndarray, w: np.ndarray, k: int) -> float:
    """O(k n^2) DP over sorted values in float64: the textbook optimum."""
    o = np.argsort(x, kind="stable")
    xs, ws = x[o].astype(np.float64), w[o].astype(np.float64)
    n = len(xs)
    W = np.concatenate([[0], np.cumsum(ws)])
    S = np.concatenate([[0], np.cumsum(ws * xs)])
    Q = np.concatenate([[0], np.cumsum(ws * xs * xs)])
    D = np.full((k + 1, n + 1), np.inf)
    D[0, 0] = 0.0
    for c in range(1, k + 1):
        for i in range(c, n + 1):
            j = np.arange(c - 1, i)
            cost = (Q[i] - Q[j]) - (S[i] - S[j]) ** 2 / (W[i] - W[j])
            D[c, i] = np.min(D[c - 1, j] + cost)
    return float(D[k, n])


def weighted_error(x: np.ndarray, w: np.ndarray, c: np.ndarray, codes: np.ndarray) -> float:
    return float(np.sum(w.astype(np.float64) * (x.astype(np.float64) - c[codes]) ** 2))


@pytest.mark.parametrize("seed", range(6))
def test_matches_brute_force_optimum(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, k = 60, 2 + seed
    x = rng.standard_normal(n).astype(np.float32)
    w = rng.random(n).astype(np.float32) + 0.01
    c, codes, err = kmeans1d(x, w, [0, n], k)
    best = brute_force_error(x, w, k)
    assert err == pytest.approx(best, rel=1e-9, abs=1e-12)
    assert weighted_error(x, w, c[0], codes) == pytest.approx(best, rel=1e-5)
    assert np.all(np.diff(c[0]) >= 0)


def minilm_rows(path: Path, name: str, rows: int) -> np.ndarray:
    from safetensors.numpy import load_file

    return load_file(str(path / "model.safetensors"))[name][:rows].astype(np.float32)


def test_never_worse_than_lloyd_on_every_row(minilm_dir: Path) -> None:
    # Real weights: 64 rows of MiniLM's first attention query and FFN output matrices, weighted
    # by a positive per-column importance as act weighting does.
    rng = np.random.default_rng(0)
    for name in ("encoder.layer.0.attention.self.query.weight",
                 "encoder.layer.0.output.dense.weight"):
        w = minilm_rows(minilm_dir, name, 64)
        imp = np.broadcast_to(rng.gamma(1.0, 1.0, w.shape[1]).astype(np.float32), w.shape)
        for k in (4, 16):
            offsets = np.arange(len(w) + 1) * w.shape[1]
            c, codes, _ = kmeans1d(w.ravel(), np.ascontiguousarray(imp).ravel(), offsets, k)
            codes = codes.reshape(w.shape)
            for r in range(len(w)):
                exact = weighted_error(w[r], imp[r], c[r], codes[r])
                _, _, lerr = lloyd_kmeans1d(w[r], imp[r], k)
                assert exact <= lerr * (1 + 1e-6) + 1e-12, (name, k, r, exact, lerr)


def test_deterministic_and_thread_independent() -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal(64 * 200).astype(np.float32)
    w = rng.random(x.size).astype(np.float32)
    off = np.arange(65) * 200
    a = kmeans1d(x, w, off, 16, threads=1)
    b = kmeans1d(x, w, off, 16, threads=2)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert a[2] == pytest.approx(b[2], rel=1e-12)  # only the summation order differs


def test_few_distinct_values_empty_segments_zero_weights() -> None:
    x = np.array([1, 1, 2, 2, 2, 5, 3, 3], np.float32)
    w = np.array([1, 1, 1, 1, 1, 1, 0, 0], np.float32)
    c, codes, err = kmeans1d(x, w, [0, 0, 6, 8], 4)
    assert np.array_equal(c[0], np.zeros(4))  # empty segment
    assert np.array_equal(c[1], [1, 2, 5, 5])  # 3 distinct values: the largest repeats
    assert err == pytest.approx(0.0, abs=1e-9)
    assert np.array_equal(c[1][codes[:6]], x[:6])
    assert np.all(c[2][codes[6:]] == 3)  # zero weights still get their nearest centroid


@pytest.mark.parametrize("bad", [
    dict(x=[1.0, np.nan], w=[1, 1], off=[0, 2], k=2),
    dict(x=[1.0, 2.0], w=[1, -1], off=[0, 2], k=2),
    dict(x=[1.0, 2.0], w=[1, 1], off=[0, 3], k=2),
    dict(x=[1.0, 2.0], w=[1, 1], off=[0, 2], k=0),
    dict(x=[1.0, 2.0], w=[1, 1], off=[0, 2], k=300),
])
def test_bad_input_raises(bad: dict) -> None:
    with pytest.raises(ConfigError):
        kmeans1d(bad["x"], bad["w"], bad["off"], bad["k"])
