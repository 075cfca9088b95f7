"""Weight-sharing k-means speed: Lloyd's algorithm with each initialization against the exact
1-D optimum, on synthetic weights shaped like a pruned fc layer's survivors
(``eie.compress.kmeans.synthetic_weights``), timed by the interleaved harness.

``python -m eie.cli.bench_scripts kmeans --n 4000000 --k 15 [--exact]`` prints the table.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eie.bench.timing import interleaved
from eie.compress.kmeans import INITS, KMeansResult, kmeans_exact, lloyd, synthetic_weights


@dataclass(frozen=True)
class KMeansTiming:
    algorithm: str
    """``lloyd`` or ``exact``."""
    init: str | None
    """Lloyd's initialization (None for the exact DP)."""
    n: int
    k: int
    wall_s: float
    """Median wall time of one clustering, seconds."""
    cpu_s: float
    """Median CPU time of the calling thread, seconds."""
    iterations: int | None
    sse: float


def time_kmeans(n: int = 4_000_000, k: int = 15, exact: bool = False, rounds: int = 2
                ) -> list[KMeansTiming]:
    """One record per algorithm; each clustering runs twice per round, in turn with the others.

    >>> [(r.algorithm, r.init) for r in time_kmeans(2000, 4, exact=True, rounds=1)][-2:]
    [('lloyd', 'kmeans++'), ('exact', None)]
    """
    x = synthetic_weights(n)
    last: dict[str, KMeansResult] = {}

    def keep(name: str, fn: Callable[[], KMeansResult]) -> Callable[[], None]:
        def run() -> None:
            last[name] = fn()
        return run

    fns: dict[str, Callable[[], Any]] = {
        init: keep(init, functools.partial(lloyd, x, k, init)) for init in INITS}
    if exact:
        fns["exact"] = keep("exact", functools.partial(kmeans_exact, x, k))
    t = interleaved(fns, budget_s=0.0, min_reps=2 * rounds, max_reps=2 * rounds, rounds=rounds)
    return [KMeansTiming("exact" if name == "exact" else "lloyd",
                         None if name == "exact" else name, n, k, t[name].wall_us * 1e-6,
                         t[name].cpu_us * 1e-6,
                         None if name == "exact" else last[name].iterations, last[name].sse)
            for name in fns]
