"""The core's thread pool under concurrent callers and after fork()."""

from __future__ import annotations

import multiprocessing as mp
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from engine_cases import random_input, random_matrix

from eie.engine import spmv
from eie.formats import EIEMatrix


def _cases(n: int) -> list[tuple[EIEMatrix, np.ndarray]]:
    rng = np.random.default_rng(21)
    # Large enough (>= 20k multiply-adds) that the multiply is split over the pool's threads.
    return [(random_matrix(rng, 1500 + 13 * i, 600, 0.1 + 0.1 * (i % 3)),
             random_input(rng, (600,), 0.5)) for i in range(n)]


def test_concurrent_python_threads_get_their_own_results() -> None:
    cases = _cases(6)
    expect = [spmv(m, x, threads=2) for m, x in cases]

    def run(i: int) -> np.ndarray:
        m, x = cases[i % len(cases)]
        return spmv(m, x, threads=2)

    with ThreadPoolExecutor(4) as ex:
        got = list(ex.map(run, range(48)))
    for i, y in enumerate(got):
        np.testing.assert_array_equal(y, expect[i % len(cases)])


def _child(q: mp.Queue) -> None:
    m, x = _cases(1)[0]
    q.put(spmv(m, x, threads=2).tolist())


def test_pool_works_in_a_forked_child() -> None:
    m, x = _cases(1)[0]
    expect = spmv(m, x, threads=2)  # the parent's pool is running
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(q,))
    p.start()
    got = q.get(timeout=60)
    p.join(timeout=60)
    assert p.exitcode == 0
    np.testing.assert_array_equal(np.array(got, np.float32), expect)


def test_a_throwing_task_reaches_the_caller_and_the_pool_survives() -> None:
    """A task that throws (a scratch allocation's std::bad_alloc) on a worker thread must not
    terminate the process: the caller gets MemoryError after the job, and the pool runs the
    next jobs normally."""
    import pytest

    from eie import _core

    for fail_from in (0, 31, 63):
        with pytest.raises(MemoryError):
            _core.thread_pool_probe(64, 2, fail_from)
    assert _core.thread_pool_probe(64, 2, 64) == 64
    with pytest.raises(MemoryError):
        _core.thread_pool_probe(64, 1, 10)
    m, x = _cases(1)[0]
    np.testing.assert_array_equal(spmv(m, x, threads=2), spmv(m, x, threads=2))
