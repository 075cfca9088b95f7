"""Zero-input skipping on per-row-codebook layers: the ``colrow`` layout against ``rowwise``.

``python -m eie.cli.bench_scripts colrow [--threads 1] [--batches 1,2,4,8,16] [--sparsity
0,0.25,0.4,0.5] [--shapes smollm|all] [--isa NAME] [--json]`` (also ``python -m
eie.engine.bench_colrow``); ``--pruned`` times row codebooks in the sparse layout instead
(``run_pruned``). ``eie.report.bench_tables`` lays the records out.

Each case is a layer with one random 16-entry codebook per output row (every code a value, as
``eie quantize --codebook row`` gives) and inputs with the given fraction of zeros, drawn
independently per input (TEAL-style thresholding zeroes different inputs for each token). The
two layouts of the same codes are timed in turn (``eie.bench.timing.interleaved``: rotated
blocks, thread CPU time beside wall time) and the speed-up is rowwise / colrow thread CPU time.
Shapes: SmolLM2-135M's (576x576, 192x576, 1536x576, 576x1536) and, with ``--shapes all``,
4096x4096.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from eie import _core

SMOLLM_SHAPES = ((576, 576), (192, 576), (1536, 576), (576, 1536))
LARGE_SHAPES = ((4096, 4096),)


def per_row_layer(rows: int, cols: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(codes (rows, cols) uint8 < 16, codebooks (rows, 16) float32 holding float16 values, as
    ``eie quantize`` stores them), reproducible."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 16, (rows, cols), dtype=np.uint8)
    cbs = np.sort(rng.standard_normal((rows, 16)), axis=1).astype(np.float16).astype(np.float32)
    return codes, cbs


def sparse_inputs(batch: int, cols: int, sparsity: float, seed: int = 1) -> np.ndarray:
    """(batch, cols) float32 with ``sparsity`` of each row zero (exactly that many, at random)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, cols)).astype(np.float32)
    nz = round(sparsity * cols)
    for b in range(batch):
        x[b, rng.choice(cols, nz, replace=False)] = 0.0
    return x


class _Ring:
    """Calls the layouts of a ring in turn: with more layers than the caches hold, each call
    streams its layer's codes from memory, as decoding a whole model does."""

    def __init__(self, lays: list[Any], x: np.ndarray, out: np.ndarray, threads: int,
                 isa: str) -> None:
        self.lays, self.x, self.out, self.threads, self.isa, self.i = lays, x, out, threads, isa, 0

    def __call__(self) -> None:
        self.lays[self.i].run_f32(self.x, self.out, None, False, self.threads, self.isa)
        self.i = (self.i + 1) % len(self.lays)


def run_case(rows: int, cols: int, batch: int, sparsity: float, threads: int, isa: str,
             budget_s: float, lays: dict[str, Any]) -> dict[str, Any]:
    from eie.bench.timing import interleaved

    x = sparse_inputs(batch, cols, sparsity)
    outs = {k: np.empty((batch, rows), np.float32) for k in lays}
    fns = {k: _Ring(v if isinstance(v, list) else [v], x, outs[k], threads, isa)
           for k, v in lays.items()}
    t = interleaved(fns, budget_s=budget_s)
    np.testing.assert_allclose(outs["colrow"], outs["rowwise"], rtol=1e-3, atol=1e-3)
    return {"rows": rows, "cols": cols, "batch": batch, "sparsity": sparsity,
            "rowwise_cpu_us": t["rowwise"].cpu_us, "colrow_cpu_us": t["colrow"].cpu_us,
            "rowwise_wall_us": t["rowwise"].wall_us, "colrow_wall_us": t["colrow"].wall_us,
            "speedup_cpu": t["rowwise"].cpu_us / t["colrow"].cpu_us}


def run_pruned(threads: int, isa: str, budget_s: float) -> list[dict[str, Any]]:
    """Row codebooks in the sparse layout: shared-codebook sparse vs per-row sparse vs rowwise
    on pruned layers (4096x9216 at 9% weights, 1536x576 at 30%), batch 1 and 8, 35% / 100%
    nonzero inputs."""
    from eie.bench.timing import interleaved

    rng = np.random.default_rng(0)
    rows_out = []
    for rows, cols, dens in ((4096, 9216, 0.09), (1536, 576, 0.3)):
        codes = np.where(rng.random((rows, cols)) < dens, rng.integers(1, 16, (rows, cols)),
                         0).astype(np.uint8)
        cb = np.linspace(-1, 1, 16).astype(np.float32)
        cb[0] = 0.0
        cbs = np.sort(rng.standard_normal((rows, 16)), axis=1).astype(np.float32)
        cbs[:, 0] = 0.0
        lays = {"shared_sparse": _core.build_cpu_layout(codes, cb, "sparse", threads),
                "row_sparse": _core.build_sparse_grouped_layout(codes, cbs, 1, threads),
                "rowwise": _core.build_rowwise_layout(codes, cbs, 1)}
        for batch, act in ((1, 0.35), (1, 1.0), (8, 0.35)):
            x = sparse_inputs(batch, cols, 1.0 - act)
            outs = {k: np.empty((batch, rows), np.float32) for k in lays}
            fns = {k: (lambda lay=lay, o=outs[k], x=x: lay.run_f32(x, o, None, False, threads,
                                                                  isa))
                   for k, lay in lays.items()}
            t = interleaved(fns, budget_s=budget_s)
            rows_out.append({"rows": rows, "cols": cols, "weight_density": dens, "batch": batch,
                             "nonzero_inputs": act,
                             **{f"{k}_cpu_us": v.cpu_us for k, v in t.items()}})
    return rows_out


def run_layers(shapes: Sequence[tuple[int, int]], batches: Sequence[int],
               sparsities: Sequence[float], threads: int, isa: str, budget_s: float,
               ring_mb: int = 0) -> Iterator[dict[str, Any]]:
    """``run_case`` for every shape, batch and fraction of zeros, yielded as measured;
    ``ring_mb`` > 0 cycles over copies of each layer holding that many MiB of codes (beyond the
    caches: memory-bound, as a whole model is)."""
    for rows, cols in shapes:
        codes, cbs = per_row_layer(rows, cols)
        # a ring of copies (the same codes in distinct memory; the last one is computed last
        # in every block of calls, so both outputs compare)
        n = max(1, ring_mb * 2 ** 20 // (rows * cols // 2)) if ring_mb else 1
        lays = {"rowwise": [_core.build_rowwise_layout(codes, cbs, 1) for _ in range(n)],
                "colrow": [_core.build_colrow_layout(codes, cbs, 1) for _ in range(n)]}
        for batch in batches:
            for s in sparsities:
                yield run_case(rows, cols, batch, s, threads, isa, budget_s, lays)
