"""1-D k-means: golden initializations, Lloyd's fixed point, the exact DP's optimality."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eie.compress.kmeans import INITS, init_centroids, kmeans_exact, lloyd, sse_of
from eie.errors import CompressionError, ConfigError

SETTINGS = settings(derandomize=True, max_examples=40, deadline=None)


def test_linear_init_golden() -> None:
    assert init_centroids(np.arange(11.0), 5, "linear").tolist() == [0, 2.5, 5, 7.5, 10]
    assert init_centroids([-1.0, 3.0], 3, "linear").tolist() == [-1, 1, 3]


def test_density_init_golden() -> None:
    # CDF spaced evenly: quantiles at (i + 0.5) / k of 0..10 -> 2.5 and 7.5
    assert init_centroids(np.arange(11.0), 2, "density").tolist() == [2.5, 7.5]
    # Dense near zero, sparse tails: density init puts more centroids where the weights are.
    x = np.concatenate([np.linspace(-0.1, 0.1, 1000), [-1.0, 1.0]])
    assert np.abs(init_centroids(x, 4, "density")).max() < 0.1
    assert np.abs(init_centroids(x, 4, "linear")).max() == 1.0


def test_random_and_kmeanspp_init_come_from_the_data_and_are_seeded() -> None:
    x = np.random.default_rng(1).normal(size=200)
    for method in ("random", "kmeans++"):
        c = init_centroids(x, 6, method, rng=3)
        assert np.all(np.isin(c, x)) and np.all(np.diff(c) >= 0)
        assert np.array_equal(c, init_centroids(x, 6, method, rng=3))
    # Forgy draws distinct samples
    assert len(set(init_centroids(x, 6, "random", rng=3).tolist())) == 6
    # kmeans++ on two far groups picks one centre in each
    two = np.concatenate([np.zeros(50), np.full(50, 100.0)])
    assert init_centroids(two, 2, "kmeans++", rng=0).tolist() == [0.0, 100.0]


def test_bad_arguments() -> None:
    with pytest.raises(ConfigError, match="init"):
        init_centroids([1.0, 2.0], 2, "nope")
    with pytest.raises(CompressionError, match="empty"):
        lloyd([], 2)
    with pytest.raises(ConfigError):
        lloyd([1.0], 0)


def test_lloyd_golden_and_fixed_point() -> None:
    r = lloyd(np.array([0.0, 0.1, 5.0, 5.2]), 2)
    assert np.allclose(r.centroids, [0.05, 5.1]) and r.labels.tolist() == [0, 0, 1, 1]
    x = np.random.default_rng(0).normal(size=5000)
    r = lloyd(x, 8)
    # At convergence: every value sits with its nearest centroid, centroids are member means.
    nearest = np.abs(x[:, None] - r.centroids[None]).argmin(1)
    assert np.array_equal(nearest, r.labels)
    for j in range(8):
        assert r.centroids[j] == pytest.approx(x[r.labels == j].mean())
    assert r.sse == pytest.approx(((x - r.centroids[r.labels]) ** 2).sum())


def _brute_force_sse(x: np.ndarray, k: int) -> float:
    xs = np.sort(x)
    best = np.inf
    for cuts in itertools.combinations(range(1, len(xs)), k - 1):
        parts = np.split(xs, cuts)
        best = min(best, sum(((p - p.mean()) ** 2).sum() for p in parts))
    return float(best)


@SETTINGS
@given(st.lists(st.floats(-10, 10, allow_nan=False), min_size=3, max_size=9),
       st.integers(1, 3))
def test_exact_matches_brute_force(values: list[float], k: int) -> None:
    x = np.asarray(values)
    k = min(k, len(x))
    r = kmeans_exact(x, k)
    assert r.sse == pytest.approx(_brute_force_sse(x, k), abs=1e-9)
    assert r.sse == pytest.approx(sse_of(x, r.centroids), abs=1e-9)


@SETTINGS
@given(st.integers(0, 10_000), st.integers(2, 16), st.sampled_from(INITS))
def test_exact_never_worse_than_lloyd(seed: int, k: int, init: str) -> None:
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.normal(-1, 0.3, 150), rng.laplace(0.8, 0.2, 150)])
    ex = kmeans_exact(x, k)
    ll = lloyd(x, k, init, rng=seed)
    assert ex.sse <= ll.sse * (1 + 1e-9) + 1e-12


def test_exact_golden_and_more_clusters_than_values() -> None:
    assert kmeans_exact([1.0, 2.0, 10.0, 11.0, 12.0], 2).centroids.tolist() == [1.5, 11.0]
    r = kmeans_exact([3.0, 1.0], 4)
    assert r.sse == 0.0 and len(r.centroids) == 4 and r.labels.tolist() == [1, 0]


@pytest.mark.slow
def test_lloyd_on_four_million_weights() -> None:
    """VGG fc6-sized input (its speed is benchmarked, not asserted: see docs/compression.md)."""
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(-0.02, 0.008, 2_000_000), rng.normal(0.02, 0.008, 2_000_000)])
    r = lloyd(x, 15)
    assert r.iterations > 1
    assert r.sse < lloyd(x, 15, max_iter=1).sse
