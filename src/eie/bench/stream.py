"""A decoder's Linear layers streamed from memory: SmolLM2-135M's 120 per-token kernel calls
(q/k/v fused 960x576, o 576x576, gate/up fused 3072x576, down 576x1536, x30 blocks; 106 M weights,
53 MB of 4-bit codes, more than a desktop L3) with per-row codebooks and random codes, called in
turn at batch 1 as a decode does, once per precision per round (rounds interleaved), against a
sequential read of arrays of the same sizes (numpy's bitwise-or reduction: the memory floor of
this access pattern). Thread CPU time per pass (the calling thread's: with more threads, wall
time tells the speed-up) and wall time; the best round of each is kept."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

SMOLLM2_DECODE = ((960, 576), (576, 576), (3072, 576), (576, 1536))
"""The four kernel calls of one SmolLM2 block (q/k/v and gate/up fused, as the runtime runs
them)."""


@dataclass
class StreamRow:
    name: str
    ms: float
    """Best round, thread CPU milliseconds per pass over every layer."""
    rounds: list[float]
    wall_ms: float
    """Best round, wall milliseconds per pass."""
    gb_s: float
    """Bytes of codes read per pass / best wall time."""


def _best(fn: object, reps: int, out: dict[str, list[float]], wall: dict[str, list[float]],
          name: str) -> None:
    assert callable(fn)
    fn()
    c, w = time.thread_time(), time.perf_counter()
    for _ in range(reps):
        fn()
    out.setdefault(name, []).append((time.thread_time() - c) / reps * 1e3)
    wall.setdefault(name, []).append((time.perf_counter() - w) / reps * 1e3)


def run(blocks: int = 30, precisions: Sequence[str] = ("fp32", "int8"), rounds: int = 3,
        reps: int = 10, threads: int = 1, seed: int = 0) -> list[StreamRow]:
    from eie import _core
    from eie.engine import kernels

    kernels.check_threads(threads)
    for p in precisions:
        kernels.check_precision(p)
    rng = np.random.default_rng(seed)
    shapes = list(SMOLLM2_DECODE) * blocks
    lays = []
    for rows, cols in shapes:
        codes = rng.integers(0, 16, (rows, cols), dtype=np.uint8)
        cb = (rng.standard_normal((rows, 16)) * 0.02).astype(np.float16).astype(np.float32)
        lays.append(_core.build_rowwise_layout(codes, cb, 1))
    xs = {c: rng.standard_normal((1, c)).astype(np.float32) for _, c in SMOLLM2_DECODE}
    outs = [np.empty((1, r), np.float32) for r, _ in shapes]
    code_bytes = sum(r * -(-c // 128) * 64 for r, c in shapes)
    arrays = [np.ones(r * -(-c // 128) * 8, np.uint64) for r, c in shapes]
    isa = kernels.active_isa_name()

    def layers(p: str) -> None:
        for lay, (_, c), o in zip(lays, shapes, outs, strict=True):
            lay.run_f32(xs[c], o, None, False, threads, isa, p)

    def read() -> None:
        for a in arrays:
            np.bitwise_or.reduce(a)

    times: dict[str, list[float]] = {}
    walls: dict[str, list[float]] = {}
    for _ in range(rounds):
        for p in precisions:
            _best(lambda p=p: layers(p), reps, times, walls, p)  # type: ignore[misc]
        _best(read, reps, times, walls, "sequential read (numpy)")
    return [StreamRow(name, min(v), v, min(walls[name]), code_bytes / min(walls[name]) / 1e6)
            for name, v in times.items()]
