"""The machine's memory bandwidth, measured in the process that times the kernels (a memory
floor for each benchmark: the bytes a call must read, at this bandwidth).

>>> copy_bandwidth_gbs(1) > 0 and read_bandwidth_gbps(1, 4) > 0
True
"""

from __future__ import annotations

import numpy as np

from eie.bench.timing import best_of, median_us


def read_bandwidth_gbps(threads: int, mbytes: int = 256) -> float:
    """Streaming read bandwidth (GB/s): eie's core summing a large float32 array on ``threads``
    threads (``_core.stream_sum``), median over repeats."""
    from eie import _core

    a = np.ones(mbytes * (1 << 20) // 4, np.float32)
    us = median_us(lambda: _core.stream_sum(a, threads), budget_s=0.5, min_reps=5)
    return a.nbytes / (us * 1e-6) / 1e9


def copy_bandwidth_gbs(mib: int = 64) -> float:
    """Large-copy bandwidth (read + write bytes / time, GB/s) of ``numpy.copyto``, best of 5."""
    a = np.ones(mib * (1 << 20) // 4, np.float32)
    b = np.empty_like(a)
    best_us = best_of(lambda: np.copyto(b, a), repeats=5).wall_us
    return 2 * a.nbytes / best_us / 1e3
