"""The timing harness: contenders timed in turn, in interleaved and rotated blocks, with wall
time and the calling thread's CPU time.

On a shared machine the load drifts from second to second, so contenders are never timed one
after the other: ``rounds`` rounds give every contender a block of ``budget_s / rounds`` seconds
(at least ``min_reps / rounds`` calls). The first third of each block is dropped: the previous
contender's thread pool (OpenBLAS, OpenMP, eie's) may still be spinning on the cores. Each round
takes the contenders in its own order (round ``r``: reversed when ``r`` is odd, then rotated by
``r``), so no contender always follows the same one: on a shared VM a 2-thread call can run up to
2x slower for tens of ms after the second vCPU sat idle or another pool spun on it, and that cost
falls on whichever contender comes next.

The thread CPU time (``time.thread_time``) is what a call cost the calling thread whatever else
runs on the machine (a preempted call's wall time grows, its CPU time does not); with one thread
it is the call's whole CPU cost, with more it leaves out the helper threads'.

>>> t = interleaved({"sum": lambda: sum(range(100)), "max": lambda: max(range(100))},
...                 budget_s=0.0, min_reps=6, max_reps=6)
>>> sorted(t), t["sum"].calls
(['max', 'sum'], 6)
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Timing:
    """One contender's medians over its kept calls (``interleaved``), or its minima
    (``best_of``)."""

    wall_us: float
    """Median wall time per call, microseconds."""
    cpu_us: float
    """Median CPU time of the calling thread per call, microseconds."""
    calls: int
    """Calls timed, warm-up (the first third of each block) included."""


def interleaved(fns: Mapping[str, Callable[[], object]], budget_s: float = 0.3,
                min_reps: int = 5, max_reps: int = 200, rounds: int = 3) -> dict[str, Timing]:
    """Time every contender of ``fns`` in interleaved blocks (the module docstring's method)."""
    if not fns:
        return {}
    if rounds < 1 or min_reps < 1 or max_reps < 1 or budget_s < 0:
        raise ValueError(f"rounds, min_reps and max_reps should be >= 1 and budget_s >= 0, found "
                         f"{rounds}, {min_reps}, {max_reps}, {budget_s}")
    per_block = budget_s / rounds
    min_block = max(2, -(-min_reps // rounds))
    max_block = max(min_block, max_reps // rounds)
    wall: dict[str, list[float]] = {k: [] for k in fns}
    cpu: dict[str, list[float]] = {k: [] for k in fns}
    calls = dict.fromkeys(fns, 0)
    names = list(fns)
    for r in range(rounds):
        order = names if r % 2 == 0 else names[::-1]
        order = order[r % len(order):] + order[:r % len(order)]
        for k in order:
            fn = fns[k]
            block: list[float] = []
            cblock: list[float] = []
            start = time.perf_counter()
            while len(block) < max_block and (len(block) < min_block
                                              or time.perf_counter() - start < per_block):
                c0 = time.thread_time()
                t0 = time.perf_counter()
                fn()
                block.append(time.perf_counter() - t0)
                cblock.append(time.thread_time() - c0)
            wall[k].extend(block[len(block) // 3:])
            cpu[k].extend(cblock[len(cblock) // 3:])
            calls[k] += len(block)
    return {k: Timing(float(np.median(wall[k])) * 1e6, float(np.median(cpu[k])) * 1e6, calls[k])
            for k in fns}


def interleaved_medians(fns: Mapping[str, Callable[[], object]], budget_s: float = 0.3,
                        min_reps: int = 5, max_reps: int = 200, rounds: int = 3
                        ) -> tuple[dict[str, float], dict[str, float]]:
    """``(wall_us, cpu_us)`` by contender: ``interleaved`` as two dictionaries."""
    t = interleaved(fns, budget_s, min_reps, max_reps, rounds)
    return {k: v.wall_us for k, v in t.items()}, {k: v.cpu_us for k, v in t.items()}


def median_us(fn: Callable[[], object], budget_s: float = 0.3, min_reps: int = 6,
              max_reps: int = 300) -> float:
    """Median wall time of one function, microseconds (one contender, same method)."""
    return interleaved({"fn": fn}, budget_s, min_reps, max_reps)["fn"].wall_us


def best_of(fn: Callable[[], object], repeats: int = 3) -> Timing:
    """The fastest of ``repeats`` calls, wall and thread CPU time each (``Timing`` holds the two
    minima, not medians): for calls of a second or more (an encoder, a whole simulation) where
    blocks of many calls do not fit, and the minimum is the one least disturbed by the load.

    >>> best_of(lambda: sum(range(1000)), repeats=2).calls
    2
    """
    if repeats < 1:
        raise ValueError(f"repeats should be >= 1, found {repeats}")
    wall = cpu = float("inf")
    for _ in range(repeats):
        c0 = time.thread_time()
        t0 = time.perf_counter()
        fn()
        wall = min(wall, time.perf_counter() - t0)
        cpu = min(cpu, time.thread_time() - c0)
    return Timing(wall * 1e6, cpu * 1e6, repeats)


def optional_torch() -> Any:
    """The torch module, or None where it is not installed (every harness runs without it)."""
    try:
        import torch
    except ImportError:
        return None
    return torch


@contextlib.contextmanager
def thread_limits(threads: int) -> Iterator[None]:
    """The same thread count for numpy/scipy BLAS (threadpoolctl) and torch, restored after."""
    stack = contextlib.ExitStack()
    with stack:
        try:
            from threadpoolctl import threadpool_limits
            stack.enter_context(threadpool_limits(threads))
        except ImportError:
            pass
        torch = optional_torch()
        if torch is not None:
            before = torch.get_num_threads()
            torch.set_num_threads(threads)
            stack.callback(torch.set_num_threads, before)
        yield
