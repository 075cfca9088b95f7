"""What a figure was measured on: CPU model, logical CPUs, the ISA eie's kernels use, its CPU
features and the BLAS numpy uses. One record for benchmarks and reports alike."""

from __future__ import annotations

import contextlib
import os
import platform
from typing import Any


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what ``platform`` says."""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def blas_info() -> list[dict[str, Any]]:
    """What numpy/scipy use for BLAS (threadpoolctl), without thread-pool internals."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    return [{k: v for k, v in info.items()
             if k in ("internal_api", "version", "architecture", "num_threads")}
            for info in threadpool_info()]


def machine() -> dict[str, Any]:
    """``cpu``, ``logical_cpus``, ``isa`` (the kernels' active ISA), ``cpu_features``, ``blas``.

    >>> sorted(machine())
    ['blas', 'cpu', 'cpu_features', 'isa', 'logical_cpus']
    """
    from eie import _core

    return {"cpu": cpu_name(), "logical_cpus": os.cpu_count(), "isa": _core.active_isa(),
            "cpu_features": _core.cpu_features(), "blas": blas_info()}
