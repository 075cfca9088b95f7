"""Threads: column splits in small chunks claimed dynamically (each into its own partial, summed
in chunk order), and a pool that runs jobs on the calling thread alone while helpers are late.
Results stay within the tolerance of the exact product for every chunk count, and do not depend
on which thread ran which chunk (repeated calls are bit-identical, busy machine or not)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np
import pytest
from engine_cases import CODEBOOKS, assert_close, exact, random_input, random_matrix

from eie import _core
from eie.engine import kernels, spmv


@pytest.fixture
def chunks() -> Iterator[None]:
    isa = kernels.active_isa_name()
    saved = _core.tuning(isa)
    yield
    _core.set_tuning(isa, saved)


@pytest.mark.parametrize("per_thread", [1, 4, 64])
@pytest.mark.parametrize(("layout", "bits"), [("sparse", "4bit"), ("dense", "4bit"),
                                              ("sparse", "8bit"), ("dense", "8bit")])
@pytest.mark.parametrize("batch", [1, 8, 16])
@pytest.mark.parametrize("threads", [2, 3])
def test_every_chunk_count_is_exact(chunks: None, per_thread: int, layout: str, bits: str,
                                    batch: int, threads: int) -> None:
    _core.set_tuning(kernels.active_isa_name(), {"split_chunks_per_thread": per_thread})
    rng = np.random.default_rng(batch + 10 * threads)
    m = random_matrix(rng, 700, 1200, 0.1, num_pes=8, empty_cols=5, codebook=CODEBOOKS[bits])
    x = random_input(rng, (batch, 1200), 1.0)
    bias = rng.standard_normal(700).astype(np.float32)
    y = spmv(m, x, bias=bias, activation="relu", threads=threads, layout=layout)
    assert_close(y, *exact(m, x, bias, "relu"))


def test_results_do_not_depend_on_who_ran_the_chunks() -> None:
    """The second core kept busy by a Python thread spinning in numpy half the time: calls
    whose helper was late (and the back-off that follows) give the same bits as the rest."""
    rng = np.random.default_rng(5)
    m = random_matrix(rng, 2000, 3000, 0.08, num_pes=8)
    x = random_input(rng, (3000,), 0.6)
    first = spmv(m, x, threads=2, layout="sparse")
    stop = threading.Event()

    def busy() -> None:
        a = np.ones((300, 300))
        while not stop.is_set():
            a @ a  # releases the GIL: competes for the cores with the pool's worker

    t = threading.Thread(target=busy)
    t.start()
    try:
        for _ in range(60):
            np.testing.assert_array_equal(spmv(m, x, threads=2, layout="sparse"), first)
    finally:
        stop.set()
        t.join()
    assert_close(first, *exact(m, x, None, None))
