"""Weighted 1-D k-means: the exact optimum (default) and Lloyd's iteration (the reference it beats).

Both solve, for each segment of values ``x`` with weights ``w >= 0``::

    min over centroids c (k values) and codes q:  sum_i w_i (x_i - c[q_i])^2

``kmeans1d`` is exact and deterministic (dynamic programme over sorted values, in the compiled
core); ``lloyd_kmeans1d`` is the classic alternating iteration from quantile starts, kept as the
comparison the tests hold the exact solver to (its error is never lower).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from eie.errors import ConfigError

F32 = npt.NDArray[np.float32]


def _check(x: np.ndarray, w: np.ndarray, offsets: np.ndarray, k: int) -> None:
    if not 1 <= k <= 256:
        raise ConfigError(f"k-means needs 1 <= k <= 256 centroids, found {k}")
    if x.shape != w.shape or x.ndim != 1:
        raise ConfigError(f"values and weights should be 1-D of one length, found {x.shape} and "
                          f"{w.shape}")
    if offsets.ndim != 1 or len(offsets) < 1 or offsets[0] != 0 or offsets[-1] != len(x) or (
            np.any(np.diff(offsets) < 0)):
        raise ConfigError("segment offsets should rise from 0 to len(values)")


def kmeans1d(x: npt.ArrayLike, w: npt.ArrayLike, offsets: npt.ArrayLike, k: int,
             threads: int = 0) -> tuple[F32, npt.NDArray[np.uint8], float]:
    """Exact weighted k-means of every segment ``x[offsets[s]:offsets[s+1]]``.

    Returns ``(centroids (segments, k) float32 ascending, codes (len(x),) uint8, total weighted
    squared error)``. Zero weights count as 1e-6 of the segment's mean weight, so every value still
    gets its nearest centroid. ``threads <= 0`` uses every core.
    """
    from eie import _core

    xa = np.ascontiguousarray(x, dtype=np.float32)
    wa = np.ascontiguousarray(w, dtype=np.float32)
    off = np.ascontiguousarray(offsets, dtype=np.int64)
    _check(xa, wa, off, k)
    if not (np.all(np.isfinite(xa)) and np.all(np.isfinite(wa)) and np.all(wa >= 0)):
        raise ConfigError("k-means values should be finite and weights finite and >= 0")
    centroids = np.zeros((len(off) - 1, k), np.float32)
    codes = np.zeros(len(xa), np.uint8)
    err = _core.kmeans1d_segments(xa, wa, off, k, centroids, codes, int(threads))
    return centroids, codes, float(err)


def lloyd_kmeans1d(x: npt.ArrayLike, w: npt.ArrayLike, k: int, iterations: int = 50
                   ) -> tuple[F32, npt.NDArray[np.uint8], float]:
    """Lloyd's weighted k-means of one segment, started from the weighted quantiles.

    Returns ``(centroids (k,), codes, weighted squared error)``; a local optimum only.
    """
    xa = np.asarray(x, dtype=np.float64)
    wa = np.asarray(w, dtype=np.float64)
    _check(xa, wa, np.array([0, len(xa)]), k)
    if len(xa) == 0:
        return np.zeros(k, np.float32), np.zeros(0, np.uint8), 0.0
    order = np.argsort(xa, kind="stable")
    cw = np.cumsum(wa[order])
    total = cw[-1] if cw[-1] > 0 else 1.0
    targets = (np.arange(k) + 0.5) / k * total
    c = xa[order][np.minimum(np.searchsorted(cw, targets), len(xa) - 1)].copy()
    codes = np.zeros(len(xa), np.int64)
    for _ in range(iterations):
        codes = np.argmin(np.abs(xa[:, None] - c[None, :]), axis=1)
        sums = np.bincount(codes, weights=wa * xa, minlength=k)
        mass = np.bincount(codes, weights=wa, minlength=k)
        new = np.where(mass > 0, sums / np.where(mass > 0, mass, 1), c)
        if np.array_equal(new, c):
            break
        c = new
    codes = np.argmin(np.abs(xa[:, None] - c[None, :]), axis=1)
    err = float(np.sum(wa * (xa - c[codes]) ** 2))
    return c.astype(np.float32), codes.astype(np.uint8), err
