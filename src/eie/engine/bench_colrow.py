"""Zero-input skipping on per-row-codebook layers: the ``colrow`` layout against ``rowwise``.

``python -m eie.engine.bench_colrow [--threads 1] [--batches 1,2,4,8,16] [--sparsity
0,0.25,0.4,0.5] [--shapes smollm|all] [--isa NAME] [--json]``

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


def run_case(rows: int, cols: int, batch: int, sparsity: float, threads: int, isa: str,
             budget_s: float, lays: dict[str, Any]) -> dict[str, Any]:
    from eie.bench.timing import interleaved

    x = sparse_inputs(batch, cols, sparsity)
    outs = {k: np.empty((batch, rows), np.float32) for k in lays}
    fns = {k: (lambda k=k: lays[k].run_f32(x, outs[k], None, False, threads, isa)) for k in lays}
    t = interleaved(fns, budget_s=budget_s)
    np.testing.assert_allclose(outs["colrow"], outs["rowwise"], rtol=1e-3, atol=1e-3)
    return {"rows": rows, "cols": cols, "batch": batch, "sparsity": sparsity,
            "rowwise_cpu_us": t["rowwise"].cpu_us, "colrow_cpu_us": t["colrow"].cpu_us,
            "rowwise_wall_us": t["rowwise"].wall_us, "colrow_wall_us": t["colrow"].wall_us,
            "speedup_cpu": t["rowwise"].cpu_us / t["colrow"].cpu_us}


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
    shapes = SMOLLM_SHAPES + (LARGE_SHAPES if a.shapes == "all" else ())
    results = []
    for rows, cols in shapes:
        codes, cbs = per_row_layer(rows, cols)
        lays = {"rowwise": _core.build_rowwise_layout(codes, cbs, 1),
                "colrow": _core.build_colrow_layout(codes, cbs, 1)}
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
