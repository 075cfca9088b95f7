"""Wall-clock timing by medians: machines here are shared and noisy, so every speed figure is a
median over repeats and is compared only with baselines timed the same way, in the same run."""

from __future__ import annotations

import time
from collections.abc import Callable
from statistics import median


def median_us(fn: Callable[[], object], repeats: int = 15, min_total_s: float = 0.05,
              warmup: int = 2) -> float:
    """Median time of ``fn()`` in microseconds, over at least ``repeats`` calls (more for very
    fast functions, until ``min_total_s`` has passed)."""
    for _ in range(warmup):
        fn()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < repeats or (time.perf_counter() - start < min_total_s
                                   and len(times) < 100 * repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return median(times) * 1e6
