"""1-D k-means for weight sharing (numpy only): Lloyd's iterations and an exact optimum.

Deep Compression shares weights by clustering each layer's surviving weights with k-means in one
dimension. In 1-D every cluster is an interval of the sorted data, which makes both algorithms
here fast:

- ``lloyd(x, k, init=...)``: Lloyd's algorithm on the sorted values with prefix sums; one
  iteration is a ``searchsorted`` of the ``k - 1`` midpoints, so it costs O(k log n) after one
  O(n log n) sort (4 million weights cluster in about a second);
- ``kmeans_exact(x, k)``: the globally optimal clustering by dynamic programming over the sorted
  values, ``D[m][i] = min_j D[m-1][j] + SSE(x[j:i])``, each layer solved by divide and conquer
  on the monotone split point (O(k n log n), vectorized level by level). Memory: one int32 split
  point per value and cluster.

Centroid initializations (``init_centroids``), as compared in Deep Compression section 3.1:

- ``"linear"`` (default, the paper's choice): evenly spaced between min and max;
- ``"density"``: the CDF spaced evenly, quantiles at ``(i + 0.5) / k``;
- ``"random"`` (Forgy): k distinct values drawn from the data;
- ``"kmeans++"``: D^2 sampling (Arthur and Vassilvitskii).

>>> import numpy as np
>>> init_centroids(np.arange(11.0), 5, "linear").tolist()
[0.0, 2.5, 5.0, 7.5, 10.0]
>>> r = lloyd(np.array([0.0, 0.1, 5.0, 5.2]), 2)
>>> r.centroids.round(6).tolist(), r.labels.tolist()
([0.05, 5.1], [0, 0, 1, 1])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from eie.errors import CompressionError, ConfigError

INITS = ("linear", "density", "random", "kmeans++")


@dataclass(frozen=True, eq=False)
class KMeansResult:
    """Sorted centroids, the label of every input value and the sum of squared errors."""

    centroids: npt.NDArray[np.float64]  # (k,) ascending
    labels: npt.NDArray[np.int64]  # (n,) index into centroids, in the input's order
    sse: float
    iterations: int


def _as_1d(x: npt.ArrayLike, k: int) -> npt.NDArray[np.float64]:
    arr = np.asarray(x, dtype=np.float64).ravel()
    if arr.size == 0:
        raise CompressionError("k-means needs at least one value, found an empty array; "
                               "is the layer pruned away entirely?")
    if not np.all(np.isfinite(arr)):
        raise CompressionError("k-means input contains NaN or infinity")
    if not isinstance(k, int | np.integer) or k < 1:
        raise ConfigError(f"k should be a positive integer, found {k!r}")
    return arr


def init_centroids(x: npt.ArrayLike, k: int, method: str = "linear",
                   rng: np.random.Generator | int | None = 0) -> npt.NDArray[np.float64]:
    """``k`` initial centroids (sorted) by one of ``INITS``."""
    arr = _as_1d(x, k)
    gen = np.random.default_rng(rng)
    if method == "linear":
        c = np.linspace(arr.min(), arr.max(), k)
    elif method == "density":
        c = np.quantile(arr, (np.arange(k) + 0.5) / k)
    elif method == "random":
        c = gen.choice(arr, size=k, replace=arr.size < k)
    elif method == "kmeans++":
        c = _kmeanspp(arr, k, gen)
    else:
        raise ConfigError(f"centroid init should be one of {INITS}, found {method!r}")
    return np.sort(c)


def _kmeanspp(x: npt.NDArray[np.float64], k: int, gen: np.random.Generator
              ) -> npt.NDArray[np.float64]:
    centers = [float(x[gen.integers(x.size)])]
    d2 = (x - centers[0]) ** 2
    for _ in range(1, k):
        total = float(d2.sum())
        if total == 0.0:  # fewer distinct values than k: repeat one
            centers.append(centers[-1])
            continue
        c = float(x[np.searchsorted(np.cumsum(d2), gen.random() * total, side="right")
                    .clip(0, x.size - 1)])
        centers.append(c)
        np.minimum(d2, (x - c) ** 2, out=d2)
    return np.asarray(centers)


def _segment_stats(s1: npt.NDArray[np.float64], s2: npt.NDArray[np.float64],
                   bounds: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.float64], ...]:
    """Count, sum and SSE of the segments ``[bounds[i], bounds[i+1])`` of the sorted data."""
    cnt = np.diff(bounds).astype(np.float64)
    sm = np.diff(s1[bounds])
    sq = np.diff(s2[bounds])
    with np.errstate(invalid="ignore", divide="ignore"):
        sse = np.where(cnt > 0, sq - sm * sm / np.maximum(cnt, 1), 0.0)
    return cnt, sm, np.maximum(sse, 0.0)


def lloyd(x: npt.ArrayLike, k: int, init: str | npt.ArrayLike = "linear", max_iter: int = 300,
          rng: np.random.Generator | int | None = 0) -> KMeansResult:
    """Lloyd's k-means in 1-D until the assignment stops changing (or ``max_iter``).

    ``init`` is one of ``INITS`` or an explicit array of ``k`` centroids. Empty clusters keep
    their centroid.
    """
    arr = _as_1d(x, k)
    c = init_centroids(arr, k, init, rng) if isinstance(init, str) else \
        np.sort(np.asarray(init, dtype=np.float64).ravel())
    if c.size != k:
        raise ConfigError(f"explicit init should have k={k} centroids, found {c.size}")
    shift = float(arr.mean())  # centre for accurate prefix sums
    xs = np.sort(arr) - shift
    c = c - shift
    s1 = np.concatenate(([0.0], np.cumsum(xs)))
    s2 = np.concatenate(([0.0], np.cumsum(xs * xs)))
    bounds = np.empty(k + 1, np.int64)
    bounds[0], bounds[-1] = 0, xs.size
    prev = None
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007  (it is reported)
        bounds[1:-1] = np.searchsorted(xs, (c[1:] + c[:-1]) / 2, side="right")
        if prev is not None and np.array_equal(bounds, prev):
            break
        prev = bounds.copy()
        cnt, sm, _ = _segment_stats(s1, s2, bounds)
        c = np.sort(np.where(cnt > 0, sm / np.maximum(cnt, 1), c))
    bounds[1:-1] = np.searchsorted(xs, (c[1:] + c[:-1]) / 2, side="right")
    _, _, sse = _segment_stats(s1, s2, bounds)
    labels = np.searchsorted((c[1:] + c[:-1]) / 2, arr - shift, side="left").astype(np.int64)
    return KMeansResult(c + shift, labels, float(sse.sum()), it)


def kmeans_exact(x: npt.ArrayLike, k: int) -> KMeansResult:
    """Globally optimal 1-D k-means (minimum SSE) by dynamic programming on sorted values.

    >>> kmeans_exact([1.0, 2.0, 10.0, 11.0, 12.0], 2).centroids.tolist()
    [1.5, 11.0]
    """
    arr = _as_1d(x, k)
    n = arr.size
    k_eff = min(k, n)
    shift = float(arr.mean())
    order = np.argsort(arr, kind="stable")
    xs = arr[order] - shift
    s1 = np.concatenate(([0.0], np.cumsum(xs)))
    s2 = np.concatenate(([0.0], np.cumsum(xs * xs)))
    # D[i]: best SSE of the first i sorted values with m clusters; m = 1 is one segment.
    idx = np.arange(n + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        d = np.where(idx > 0, s2 - s1 * s1 / np.maximum(idx, 1), 0.0)
    splits: list[npt.NDArray[np.int32]] = []
    for m in range(2, k_eff + 1):
        targets = np.array([n]) if m == k_eff else None
        d, opt = _dp_layer(d, s1, s2, n, targets)
        splits.append(opt)
    # Backtrack the split points from the end.
    bounds = [n]
    i = n
    for opt in reversed(splits):
        i = int(opt[0] if opt.size == 1 else opt[i])
        bounds.append(i)
    bounds.append(0)
    b = np.asarray(bounds[::-1], np.int64)
    cnt, sm, sse = _segment_stats(s1, s2, b)
    centroids = np.where(cnt > 0, sm / np.maximum(cnt, 1), 0.0) + shift
    seg_labels = np.repeat(np.arange(k_eff), np.diff(b))
    labels = np.empty(n, np.int64)
    labels[order] = seg_labels
    if k_eff < k:  # fewer values than clusters: pad with copies of the last centroid
        centroids = np.concatenate([centroids, np.full(k - k_eff, centroids[-1])])
    return KMeansResult(centroids, labels, float(sse.sum()), k_eff)


def _dp_layer(prev: npt.NDArray[np.float64], s1: npt.NDArray[np.float64],
              s2: npt.NDArray[np.float64], n: int, targets: npt.NDArray[np.int64] | None
              ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int32]]:
    """One DP layer: ``cur[i] = min_{j <= i} prev[j] + SSE(j, i)`` and its argmin, for every i
    (or only ``targets``). The argmin is monotone in i, so divide and conquer applies; all
    subproblems of one recursion level are solved together with flat numpy arrays."""
    if targets is not None:
        j = np.arange(0, n + 1)
        vals = prev[j] + _cost(s1, s2, j, np.full_like(j, n))
        best = int(np.argmin(vals))
        return np.array([vals[best]]), np.array([best], np.int32)
    cur = np.empty(n + 1, np.float64)
    opt = np.empty(n + 1, np.int32)
    # Pending subproblems: compute i in [ilo, ihi] knowing opt(i) in [olo, ohi].
    ilo = np.array([0], np.int64); ihi = np.array([n], np.int64)  # noqa: E702
    olo = np.array([0], np.int64); ohi = np.array([n], np.int64)  # noqa: E702
    while ilo.size:
        mid = (ilo + ihi) >> 1
        cnt = np.minimum(mid, ohi) - olo + 1  # >= 1: olo <= ilo <= mid and olo <= ohi
        starts = np.cumsum(cnt) - cnt
        j = np.arange(int(cnt.sum()), dtype=np.int64) + np.repeat(olo - starts, cnt)
        # vals = prev[j] + SSE(j, mid), in place to limit temporaries
        sm = np.repeat(s1[mid], cnt) - s1[j]
        c = np.repeat(mid.astype(np.float64), cnt) - j
        np.maximum(c, 1.0, out=c)
        vals = np.repeat(s2[mid], cnt) - s2[j]
        sm *= sm
        sm /= c
        vals -= sm
        np.maximum(vals, 0.0, out=vals)
        vals += prev[j]
        segmin = np.minimum.reduceat(vals, starts)
        hit = np.flatnonzero(vals <= np.repeat(segmin, cnt))
        seg = np.searchsorted(starts, hit, side="right") - 1
        first = np.ones(hit.size, bool)
        first[1:] = seg[1:] != seg[:-1]
        arg = j[hit[first]]  # leftmost argmin of every subproblem
        cur[mid] = segmin
        opt[mid] = arg
        left = ilo <= mid - 1
        right = mid + 1 <= ihi
        ilo, ihi, olo, ohi = (np.concatenate([ilo[left], mid[right] + 1]),
                              np.concatenate([mid[left] - 1, ihi[right]]),
                              np.concatenate([olo[left], arg[right]]),
                              np.concatenate([arg[left], ohi[right]]))
    return cur, opt


def _cost(s1: npt.NDArray[np.float64], s2: npt.NDArray[np.float64], j: npt.NDArray[np.int64],
          i: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """SSE of the sorted values ``[j, i)`` from prefix sums (0 for empty segments)."""
    cnt = (i - j).astype(np.float64)
    sm = s1[i] - s1[j]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = s2[i] - s2[j] - sm * sm / np.maximum(cnt, 1.0)
    return np.maximum(out, 0.0)


def sse_of(x: npt.ArrayLike, centroids: npt.ArrayLike) -> float:
    """SSE of assigning every value to its nearest centroid."""
    arr = np.asarray(x, dtype=np.float64).ravel()
    c = np.sort(np.asarray(centroids, dtype=np.float64))
    lab = np.searchsorted((c[1:] + c[:-1]) / 2, arr)
    return float(np.sum((arr - c[lab]) ** 2))


def synthetic_weights(n: int, seed: int = 0) -> npt.NDArray[np.float64]:
    """``n`` weights shaped like a pruned fc layer's survivors: the two tails of a normal
    distribution (|w| above its 1 - density quantile), as in VGG-16 fc6 at 4% density."""
    rng = np.random.default_rng(seed)
    w = rng.normal(0.0, 0.01, size=2 * n)
    thr = np.quantile(np.abs(w), 0.5)
    kept = w[np.abs(w) > thr]
    return kept[:n] if kept.size >= n else np.concatenate([kept, -kept[: n - kept.size]])
