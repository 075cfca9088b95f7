"""Sparse batches on the row view against the column path they replaced (a benchmark, not a test;
docs/benchmarks-log.md records its output).

    .venv/bin/python tests/engine/bench_sparse_rows.py [--isa avx512,avx2] [--budget 0.4]

Per case and ISA, in interleaved blocks in this process (``eie.bench.timing.interleaved_medians``,
calling-thread CPU time, one thread): ``spmv`` with the batch kernel chosen per call by the cost
model (``auto``), the same call with the row view forced off (``row_batch_bias`` 1e6: the column
batch kernel or the loop of batch-1 multiplies, as before the row view), forced on (bias 0), and
torch's CSR x dense product with int32 indices (MKL). The layout is the sparse one (the auto
layout choice is made at batch 1 and is not what is compared here).
"""

from __future__ import annotations

import argparse
import functools
import warnings
from collections.abc import Callable

import numpy as np

from eie import _core
from eie.bench.timing import interleaved_medians, thread_limits
from eie.engine import spmv
from eie.formats import EIEMatrix

CASES = (  # name, (rows, cols), weight density, activation density, batch
    ("alex6 b8", (4096, 9216), 0.09, 0.35, 8),
    ("alex6 b16", (4096, 9216), 0.09, 0.35, 16),
    ("alex6 b4, dense x", (4096, 9216), 0.09, 1.0, 4),
    ("alex6 b2", (4096, 9216), 0.09, 0.35, 2),
    ("nt_wd b8", (8791, 600), 0.11, 1.0, 8),
    ("1000x4096 10% b8", (1000, 4096), 0.1, 0.35, 8),
)


def main(argv: list[str] | None = None) -> int:
    import torch

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--isa", default="avx512,avx2")
    p.add_argument("--budget", type=float, default=0.4)
    a = p.parse_args(argv)
    rng = np.random.default_rng(0)
    cb = np.linspace(-1, 1, 16).astype(np.float32)
    cb[0] = 0.0
    saved = _core.row_batch_bias()
    print("| case | ISA | eie auto CPU µs | columns (before) | rows forced | torch CSR int32 "
          "| × torch (before) |\n|---|---|---|---|---|---|---|")
    try:
        with thread_limits(1), torch.inference_mode():
            for name, (rows, cols), wd, ad, batch in CASES:
                codes = np.where(rng.random((rows, cols), dtype=np.float32) < wd,
                                 rng.integers(1, 16, (rows, cols), dtype=np.uint8),
                                 0).astype(np.uint8)
                m = EIEMatrix.from_codes(codes, cb, num_pes=64)
                x = rng.standard_normal((batch, cols), dtype=np.float32)
                x[rng.random((batch, cols)) >= ad] = 0.0
                w = cb[codes]
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)
                    csr = torch.from_numpy(w).to_sparse_csr()
                    csr32 = torch.sparse_csr_tensor(csr.crow_indices().to(torch.int32),
                                                    csr.col_indices().to(torch.int32),
                                                    csr.values(), size=w.shape)
                tx = torch.from_numpy(np.ascontiguousarray(x.T))
                for isa in a.isa.split(","):
                    def call(bias: float, isa: str = isa, m: EIEMatrix = m,
                             x: np.ndarray = x) -> Callable[[], object]:
                        def f() -> object:
                            _core.set_row_batch_bias(bias)
                            return spmv(m, x, threads=1, isa=isa, layout="sparse")
                        return f

                    fns: dict[str, Callable[[], object]] = {
                        "auto": call(1.0), "columns": call(1e6), "rows": call(0.0),
                        "torch": functools.partial(torch.mm, csr32, tx)}
                    for k in ("auto", "columns", "rows"):
                        np.testing.assert_allclose(fns[k](), x @ w.T, rtol=1e-4, atol=1e-3)
                    _, cpu = interleaved_medians(fns, a.budget)
                    print(f"| {name} | {isa} | {cpu['auto']:.0f} | {cpu['columns']:.0f} | "
                          f"{cpu['rows']:.0f} | {cpu['torch']:.0f} | "
                          f"{cpu['torch'] / cpu['auto']:.2f} ({cpu['torch'] / cpu['columns']:.2f})"
                          " |", flush=True)
    finally:
        _core.set_row_batch_bias(saved)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
