"""Pruning masks before the codebook (True = kept), without retraining.

Scores: ``magnitude`` = |W|; ``wanda`` = |W| * ||x_j|| (Wanda: the weight's magnitude times the
norm of its input channel over the calibration text, here sqrt(E[x^2])).

Patterns: a ratio (``0.5``: the lowest-scoring half of each output row is removed) or N:M with
the convention **N nonzeros kept in every M consecutive weights along the input dimension** (a
row's columns 0..M-1, M..2M-1, ...; a last, shorter block keeps min(N, its length)).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from eie.errors import ConfigError

METHODS = ("magnitude", "wanda")


def parse_prune(text: str) -> float | tuple[int, int]:
    """``"0.5"`` -> 0.5 (fraction removed); ``"2:4"`` -> (2, 4) (N kept of every M)."""
    s = str(text).strip()
    if ":" in s:
        try:
            n, m = (int(v) for v in s.split(":"))
        except ValueError:
            raise ConfigError(f"--prune N:M should be two integers like 2:4, found {s!r}") from None
        if not 1 <= n < m <= 64:
            raise ConfigError(f"--prune N:M needs 1 <= N < M <= 64, found {s!r}")
        return (n, m)
    try:
        r = float(s)
    except ValueError:
        raise ConfigError(f"--prune should be a fraction in (0, 1) or N:M, found {s!r}") from None
    if not 0.0 < r < 1.0:
        raise ConfigError(f"--prune fraction should be in (0, 1), found {r}")
    return r


def prune_label(pattern: float | tuple[int, int]) -> str:
    return f"{pattern[0]}:{pattern[1]}" if isinstance(pattern, tuple) else "unstructured"


def scores(w: np.ndarray, method: str, sq_mean: np.ndarray | None) -> npt.NDArray[np.float32]:
    if method not in METHODS:
        raise ConfigError(f"--prune-method should be one of {METHODS}, found {method!r}")
    s = np.abs(np.asarray(w, np.float32))
    if method == "wanda":
        if sq_mean is None:
            raise ConfigError("wanda pruning needs calibration statistics (--calib)")
        s = s * np.sqrt(np.asarray(sq_mean, np.float32))[None, :]
    return s


def mask_for(w: np.ndarray, pattern: float | tuple[int, int], method: str = "magnitude",
             sq_mean: np.ndarray | None = None) -> npt.NDArray[np.bool_]:
    """The kept-entries mask of ``w`` (rows, cols). Ties keep the lower column index."""
    s = scores(w, method, sq_mean)
    rows, cols = s.shape
    if isinstance(pattern, tuple):
        n, m = pattern
        nb = -(-cols // m)
        padded = np.full((rows, nb * m), -np.inf, np.float32)
        padded[:, :cols] = s
        blocks = padded.reshape(rows, nb, m)
        # Rank inside each block (stable: equal scores keep the earlier column).
        order = np.argsort(-blocks, axis=2, kind="stable")
        ranks = np.empty_like(order)
        np.put_along_axis(ranks, order, np.arange(m)[None, None, :], axis=2)
        keep = (ranks < n).reshape(rows, nb * m)[:, :cols]
        return np.ascontiguousarray(keep)
    remove = round(pattern * cols)
    order = np.argsort(s, axis=1, kind="stable")
    keep = np.ones((rows, cols), bool)
    np.put_along_axis(keep, order[:, :remove], False, axis=1)
    return keep
