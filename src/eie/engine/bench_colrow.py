"""Zero-input skipping on per-row-codebook layers: the ``colrow`` layout against ``rowwise``.

``python -m eie.engine.bench_colrow [--threads 1] [--batches 1,2,4,8,16] [--sparsity
0,0.25,0.4,0.5] [--shapes smollm|all] [--isa NAME] [--json]``; ``--pruned`` times row codebooks
in the sparse layout instead (``run_pruned``).

Each case is a layer with one random 16-entry codebook per output row (every code a value, as
``eie quantize --codebook row`` gives) and inputs with the given fraction of zeros, drawn
independently per input (TEAL-style thresholding zeroes different inputs for each token). The
two layouts of the same codes are timed in turn (``eie.bench.timing.interleaved``: rotated
blocks, thread CPU time beside wall time) and the speed-up is rowwise / colrow thread CPU time.
Shapes: SmolLM2-135M's (576x576, 192x576, 1536x576, 576x1536) and, with ``--shapes all``,
4096x4096.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from eie import _core

SMOLLM_SHAPES = ((576, 576), (192, 576), (1536, 576), (576, 1536))
LARGE_SHAPES = ((4096, 4096),)


def per_row_layer(rows: int, cols: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(codes (rows, cols) uint8 < 16, codebooks (rows, 16) float32), reproducible."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 16, (rows, cols), dtype=np.uint8)
    cbs = np.sort(rng.standard_normal((rows, 16)), axis=1).astype(np.float32)
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


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m eie.engine.bench_colrow",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batches", default="1,2,4,8,16")
    p.add_argument("--sparsity", default="0,0.25,0.4,0.5")
    p.add_argument("--shapes", choices=("smollm", "all"), default="all")
    p.add_argument("--isa", default="", help="engine ISA (default: the best this CPU runs)")
    p.add_argument("--budget", type=float, default=0.3, help="seconds per case")
    p.add_argument("--json", action="store_true")
    p.add_argument("--ring-mb", type=int, default=0,
                   help="cycle over copies of each layer holding this many MiB of codes (beyond "
                        "the caches: memory-bound, as a whole model is)")
    p.add_argument("--pruned", action="store_true",
                   help="time row codebooks in the sparse layout instead (pruned layers)")
    a = p.parse_args(argv)
    try:
        batches = [int(v) for v in a.batches.split(",")]
        sparsities = [float(v) for v in a.sparsity.split(",")]
    except ValueError:
        print("error: --batches takes integers and --sparsity fractions, comma-separated",
              file=sys.stderr)
        return 2
    if not all(1 <= b <= 16 for b in batches) or not all(0 <= s < 1 for s in sparsities) \
            or a.threads < 1:
        print("error: batches should be 1..16, sparsities in [0, 1), threads >= 1",
              file=sys.stderr)
        return 2
    from eie.engine import kernels

    isa = a.isa or kernels.active_isa_name()
    if a.pruned:
        cases = run_pruned(a.threads, isa, a.budget)
        if a.json:
            print(json.dumps({"isa": isa, "threads": a.threads, "cases": cases}, indent=1))
        for c in cases if not a.json else []:
            print(f"{c['rows']:>5}x{c['cols']:<5} {c['weight_density']:.0%} weights b{c['batch']}"
                  f" {c['nonzero_inputs']:.0%} inputs: shared sparse "
                  f"{c['shared_sparse_cpu_us']:.0f} us, per-row sparse "
                  f"{c['row_sparse_cpu_us']:.0f} us, rowwise {c['rowwise_cpu_us']:.0f} us")
        return 0
    shapes = SMOLLM_SHAPES + (LARGE_SHAPES if a.shapes == "all" else ())
    results = []
    for rows, cols in shapes:
        codes, cbs = per_row_layer(rows, cols)
        # a ring of copies (the same codes in distinct memory; the last one is computed last
        # in every block of calls, so both outputs compare)
        n = max(1, a.ring_mb * 2 ** 20 // (rows * cols // 2)) if a.ring_mb else 1
        lays = {"rowwise": [_core.build_rowwise_layout(codes, cbs, 1) for _ in range(n)],
                "colrow": [_core.build_colrow_layout(codes, cbs, 1) for _ in range(n)]}
        for batch in batches:
            for s in sparsities:
                r = run_case(rows, cols, batch, s, a.threads, isa, a.budget, lays)
                results.append(r)
                if not a.json:
                    print(f"{rows:>5}x{cols:<5} b{batch:<2} zeros {s:4.2f}  rowwise "
                          f"{r['rowwise_cpu_us']:8.1f} us  colrow {r['colrow_cpu_us']:8.1f} us"
                          f"  speed-up {r['speedup_cpu']:5.2f}x (thread CPU; wall "
                          f"{r['rowwise_wall_us']:.1f} / {r['colrow_wall_us']:.1f})", flush=True)
    if a.json:
        print(json.dumps({"isa": isa, "threads": a.threads, "cases": results}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
