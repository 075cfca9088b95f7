"""``eie bench``: the CPU engine against dense and sparse baselines, side by side, one process.

Cases: the paper's nine benchmark layers (random sparsity, seeded), a weight-density sweep on the
4096x9216 shape (activations at 35% and 100%; both CPU layouts timed, which is where the
sparse/dense crossover comes from), dense codebook layers (every weight a 4-bit code, as in
W4A16 LLM layers) and, in the ``batch`` group, small batches (2..16 inputs) on alex6's shape and a
4096x4096 dense codebook layer, and in ``llm`` dense 4-bit layers with one 16-entry codebook per
row (the rowwise layout) on SmolLM2-135M's shapes and two larger ones, at batch 1 and 8. Each case
reports wall and calling-thread CPU time and the ISA the kernels ran (timed by
``eie.bench.timing``; ``eie.report.bench_tables`` lays the records out). Baselines, with the same thread count: numpy fp32 dense GEMV /
GEMM (BLAS), torch fp32 and bf16 dense, scipy CSR fp32 and torch CSR fp32. Times are medians over
repeats. Every case first checks that eie's result matches numpy's (``EngineError`` if not).

Derived figures per case:

- ``eie_gbps``: bytes the kernel must stream (entries or codes of the active columns, their
  pointers, x and y) per second;
- ``eie_entries_per_ns``: real work (nonzero weights times nonzero activations, or all weights of
  the active columns for the dense layout) per nanosecond;
- ``memory_bound_us``: those bytes at the measured read bandwidth (``read_gbps``) - the time the
  case would take if it were purely memory-bound.
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from eie import _core
from eie.bench.timing import interleaved_medians, thread_limits
from eie.bench.timing import optional_torch as _torch
from eie.engine import kernels, layout
from eie.formats.benchmark_layers import BENCHMARKS, random_codebook

BASELINES = ("numpy_fp32", "torch_fp32", "torch_bf16", "scipy_csr", "torch_csr")
SWEEP_SHAPE = (4096, 9216)
SWEEP_DENSITIES = (0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0)
SWEEP_ACT = (0.35, 1.0)
DENSE_SHAPES = ((4096, 4096), (11008, 4096))
BATCHES = (2, 4, 8, 16)
BATCH_LAYERS = (("alex6", (4096, 9216), 0.09), ("dense", (4096, 4096), 1.0))
SMOLLM2_SHAPES = ((576, 576), (192, 576), (1536, 576), (576, 1536))
"""SmolLM2-135M's linear layers (rows x cols): q/o projections, k/v, MLP up/gate, MLP down."""
LLM_SHAPES = (*SMOLLM2_SHAPES, (4096, 4096), (11008, 4096))
LLM_BATCHES = (1, 8)
GROUPS = ("layer", "sweep", "dense", "batch", "llm")


@dataclass
class Case:
    """One benchmark case's inputs."""

    name: str
    group: str  # one of GROUPS
    codes: npt.NDArray[np.uint8]
    x: npt.NDArray[np.float32]  # (cols,), or (batch, cols) in the batch group
    codebook: npt.NDArray[np.float32]
    weight_density: float
    act_density: float
    both_layouts: bool = False
    row_codebooks: npt.NDArray[np.float32] | None = None
    """(rows, 16): per-row codebooks (every code a value), run on the rowwise layout."""


@dataclass
class Record:
    """One JSON record."""

    name: str
    group: str
    rows: int
    cols: int
    weight_density: float
    act_density: float
    threads: int
    layout: str
    eie_us: float
    eie_gbps: float
    eie_entries_per_ns: float
    memory_bound_us: float
    baselines_us: dict[str, float | None] = field(default_factory=dict)
    layouts_us: dict[str, float] = field(default_factory=dict)
    batch: int = 1  # inputs per call; times are per call
    isa: str = ""  # the ISA eie's kernels ran
    eie_cpu_us: float = 0.0  # the calling thread's CPU time per call (median)
    baselines_cpu_us: dict[str, float | None] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        base = d.pop("baselines_us")
        lay = d.pop("layouts_us")
        cpu = d.pop("baselines_cpu_us")
        for k in BASELINES:
            d[f"{k}_us"] = base.get(k)
            d[f"{k}_cpu_us"] = cpu.get(k)
        for k, v in lay.items():
            d[f"eie_{k}_us"] = v
        return d


def make_cases(quick: bool = False, seed: int = 0, groups: tuple[str, ...] = ("layer", "sweep",
                                                                             "dense")
               ) -> Iterator[Case]:
    """The cases, generated lazily (each holds its own matrices)."""
    rng = np.random.default_rng(seed)
    cb = random_codebook(16)
    scale = 16 if quick else 1

    def codes_for(rows: int, cols: int, density: float) -> npt.NDArray[np.uint8]:
        mask = rng.random((rows, cols), dtype=np.float32) < density
        vals = rng.integers(1, 16, (rows, cols), dtype=np.uint8)
        return np.where(mask, vals, np.uint8(0)).astype(np.uint8)

    def act(cols: int, density: float) -> npt.NDArray[np.float32]:
        x = rng.random(cols, dtype=np.float32) + np.float32(0.05)
        return np.where(rng.random(cols) < density, x, np.float32(0)).astype(np.float32)

    if "layer" in groups:
        for spec in BENCHMARKS.values():
            rows, cols = max(1, spec.rows // scale), max(1, spec.cols // scale)
            yield Case(spec.name, "layer", codes_for(rows, cols, spec.weight_density),
                       act(cols, spec.act_density), cb, spec.weight_density, spec.act_density)
            if quick:
                break
    if "sweep" in groups:
        rows, cols = SWEEP_SHAPE[0] // scale, SWEEP_SHAPE[1] // scale
        u = rng.random((rows, cols), dtype=np.float32)
        vals = rng.integers(1, 16, (rows, cols), dtype=np.uint8)
        densities = SWEEP_DENSITIES[::3] if quick else SWEEP_DENSITIES
        for ad in SWEEP_ACT:
            for wd in densities:
                codes = np.where(u < wd, vals, np.uint8(0)).astype(np.uint8)
                yield Case(f"sweep_w{wd:g}_a{ad:g}", "sweep", codes, act(cols, ad), cb, wd, ad,
                           both_layouts=True)
    if "dense" in groups:
        for rows, cols in DENSE_SHAPES[:1] if quick else DENSE_SHAPES:
            r, c = rows // scale, cols // scale
            yield Case(f"dense_{rows}x{cols}", "dense", codes_for(r, c, 1.0), act(c, 1.0), cb,
                       1.0, 1.0)
    if "batch" in groups:
        for name, (rows, cols), wd in BATCH_LAYERS:
            r, c = rows // scale, cols // scale
            codes = codes_for(r, c, wd)
            for ad in SWEEP_ACT:
                for b in (BATCHES[0], BATCHES[-1]) if quick else BATCHES:
                    x = np.stack([act(c, ad) for _ in range(b)])
                    yield Case(f"{name}_b{b}_a{ad:g}", "batch", codes, x, cb, wd, ad)
    if "llm" in groups:
        # dense 4-bit layers with one 16-entry codebook per row (no zero entry), rowwise layout;
        # activations dense and signed, as in a transformer
        shapes = LLM_SHAPES[:2] if quick else LLM_SHAPES
        for rows, cols in shapes:
            r, c = max(1, rows // scale), max(1, cols // scale)
            codes = rng.integers(0, 16, (r, c), dtype=np.uint8)
            row_cb = np.sort(rng.standard_normal((r, 16), dtype=np.float32), axis=1) * 0.02
            for b in LLM_BATCHES:
                x = rng.standard_normal((b, c), dtype=np.float32)
                yield Case(f"rowcb_{rows}x{cols}_b{b}", "llm", codes, x[0] if b == 1 else x,
                           cb, 1.0, 1.0, row_codebooks=row_cb)


ROW_PANEL_COLS = 4096
"""Columns per panel of a sparse layout's row view (``kRowPanelCols``, csrc/engine/layout.h):
the view holds a start and a tail pointer (4 bytes each) per row and panel."""


def _stream_bytes(lay: Any, codes: npt.NDArray[np.uint8], x: npt.NDArray[np.float32]
                  ) -> tuple[float, float]:
    """(bytes a multiply streams, its real work in entries) on the path the layout takes for
    ``x`` (``CpuLayout.plan``).

    The sparse columns stream, once per call, the entries of the columns active in any input;
    the row view streams every entry and its row pointers whatever the activations; a loop of
    batch-1 multiplies streams each input's own path. The real work sums each input's nonzero
    products (the rowwise layout: every weight)."""
    rows, cols = codes.shape
    xs = np.ascontiguousarray(np.atleast_2d(x), np.float32)
    io = 4.0 * (cols + rows) * len(xs)
    if lay.kind == "rowwise":  # every weight, once per call, whatever the activations
        return 0.5 * rows * cols + 64.0 * rows + io, float(rows * cols * len(xs))
    path = lay.plan(xs) if lay.kind in ("sparse", "dense") else str(lay.kind)
    if path == "loop":
        parts = [_stream_bytes(lay, codes, xs[b:b + 1]) for b in range(len(xs))]
        return sum(p[0] for p in parts), sum(p[1] for p in parts)
    active = (xs != 0).any(axis=0)
    per_col = np.count_nonzero(codes, axis=0).astype(np.float64)
    n_act = float(np.count_nonzero(active))
    wide = lay.code_bits == 8  # 8-bit codes: a code byte beside each entry, a byte per weight
    work = float(((xs != 0) @ per_col).sum())
    if path == "rows":  # a sparse layout's row view, or a dense layout's batch twin (4-bit)
        panels = max(1, -(-cols // ROW_PANEL_COLS))
        return 2.0 * float(per_col.sum()) + 8.0 * panels * rows + io, work
    if lay.kind == "sparse":
        entry = 3.0 if wide else 2.0
        nblocks = len(lay.row_blocks) - 1
        return entry * float(per_col[active].sum()) + 8.0 * n_act * nblocks + io, work
    return (1.0 if wide else 0.5) * rows * n_act + io, rows * float(np.count_nonzero(xs))


def run_case(case: Case, threads: int, read_gbps: float, budget_s: float = 0.3) -> Record:
    """Times eie (auto layout; both layouts on sweeps) and every baseline on one case."""
    rows, cols = case.codes.shape
    cb, x = case.codebook, case.x
    if case.row_codebooks is not None:
        lays = {"auto": _core.build_rowwise_layout(case.codes, case.row_codebooks, 1)}
    else:
        lays = {"auto": layout.build(case.codes, cb, "auto", threads)}
    if case.both_layouts:
        for name in ("sparse", "dense"):
            lays[name] = layout.build(case.codes, cb, name, threads)
    fns: dict[str, Callable[[], object]] = {
        f"eie_{name}": functools.partial(kernels.matmul, lay, x, threads=threads)
        for name, lay in lays.items()}
    if case.row_codebooks is not None:
        w = np.take_along_axis(case.row_codebooks, case.codes.astype(np.intp), axis=1)
    else:
        w = cb[case.codes]  # (rows, cols) float32
    xt = np.ascontiguousarray(x.T)  # (cols,) or (cols, batch): every baseline computes W @ x
    check_agreement(kernels.matmul(lays["auto"], x, threads=threads), w, x, case.name)
    torch = _torch()
    with thread_limits(threads), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch: "sparse CSR support is in beta"
        import scipy.sparse as sp

        csr = sp.csr_matrix(w)
        fns["numpy_fp32"] = functools.partial(np.matmul, w, xt)
        fns["scipy_csr"] = functools.partial(csr.dot, xt)
        if torch is not None:
            tw, tx = torch.from_numpy(w), torch.from_numpy(xt)
            tw16, tx16 = tw.to(torch.bfloat16), tx.to(torch.bfloat16)
            tcsr = torch.sparse_csr_tensor(torch.from_numpy(csr.indptr.astype(np.int64)),
                                           torch.from_numpy(csr.indices.astype(np.int64)),
                                           torch.from_numpy(csr.data), size=(rows, cols))
            mul = torch.mv if x.ndim == 1 else torch.mm
            fns["torch_fp32"] = functools.partial(mul, tw, tx)
            fns["torch_bf16"] = functools.partial(mul, tw16, tx16)
            fns["torch_csr"] = functools.partial(mul, tcsr, tx)
        with contextlib.ExitStack() as stack:
            if torch is not None:
                stack.enter_context(torch.inference_mode())
            med, med_cpu = interleaved_medians(fns, budget_s)
    times = {k[4:]: v for k, v in med.items() if k.startswith("eie_")}
    base: dict[str, float | None] = {k: med.get(k) for k in BASELINES}
    base_cpu: dict[str, float | None] = {k: med_cpu.get(k) for k in BASELINES}
    auto = lays["auto"]
    nbytes, work = _stream_bytes(auto, case.codes, x)
    eie_us = times["auto"]
    return Record(case.name, case.group, rows, cols, case.weight_density, case.act_density,
                  threads, str(auto.kind), eie_us, nbytes / (eie_us * 1e3),
                  work / (eie_us * 1e3), nbytes / (read_gbps * 1e3), base,
                  {k: v for k, v in times.items() if k != "auto"},
                  1 if x.ndim == 1 else len(x), kernels.active_isa_name(),
                  med_cpu["eie_auto"], base_cpu)


AGREEMENT_TOL = 1e-4
"""eie vs numpy, per output: |difference| <= AGREEMENT_TOL * (|W| @ |x|) + 1e-30 (both sides are
fp32 sums in different orders; the test suite checks the kernels far tighter)."""


def check_agreement(y: npt.NDArray[np.float32], w: npt.NDArray[np.float32],
                    x: npt.NDArray[np.float32], name: str, tol: float | None = None) -> None:
    """Raise ``EngineError`` if eie's ``y`` (x's shape with rows for cols) is not numpy's W @ x
    within ``tol`` (default ``AGREEMENT_TOL``) times sum |w| |x|."""
    ref = (w @ x.T).T
    scale = (np.abs(w) @ np.abs(x).T).T
    bad = np.abs(y - ref) > (AGREEMENT_TOL if tol is None else tol) * scale + 1e-30
    if bad.any():
        from eie.errors import EngineError

        i = tuple(int(v) for v in np.unravel_index(int(np.argmax(bad)), bad.shape))
        raise EngineError(f"bench case {name}: eie's result differs from numpy's at "
                          f"{i if len(i) > 1 else i[0]}: {float(y[i])} vs {float(ref[i])}")
