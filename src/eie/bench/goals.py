"""The CPU engine's goal cases against their peers, one process, contenders timed in turn.

``python -m eie.cli.bench_scripts goals [--threads N] [--quick]`` (also ``python -m
eie.engine.bench_goals``; ``eie.report.bench_tables`` lays the rows out as Markdown):
per case the median wall time and calling-thread CPU time of eie's public entry point (``spmv``)
and of each peer (torch CSR with int32 indices, torch bf16 dense, numpy fp32 dense), then a
weight-density sweep, per-call overheads, encoder speeds and 1 vs 2 threads. ISA: the active one
(``EIE_ISA`` lowers it). Each ``run_*`` yields its rows as they are measured.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from eie.bench import engine_cases
from eie.bench.timing import best_of, interleaved_medians, thread_limits
from eie.engine import kernels, layout, spmv
from eie.engine.spmv import chosen_layout

Fn = Callable[[], object]


@dataclass(frozen=True)
class GoalRow:
    """One goal case: eie (key ``"eie"``) and its peers, microseconds per call."""

    name: str
    layout: str
    """The layout eie ran, `` (AMX)`` added where the AMX tiles did the work, `` (bf16 dot)``
    where AVX512-BF16 dot products did, `` (int8)`` where the int8 kernel did."""
    wall_us: dict[str, float]
    cpu_us: dict[str, float]
    """The calling thread's CPU time per call."""


@dataclass(frozen=True)
class SweepRow:
    """One weight density of the sweep: CPU microseconds per call by contender."""

    weight_density: float
    layout: str
    cpu_us: dict[str, float]


@dataclass(frozen=True)
class EncoderRow:
    """Encoder speeds on one shape, millions of weights per CPU second."""

    rows: int
    cols: int
    weight_density: float
    from_codes_mwps: float
    layout_mwps: float
    """The CPU layout built from the EIE entries."""
    with_num_pes_mwps: float
    """Re-laying the entries for 32 PEs."""


@dataclass(frozen=True)
class ThreadsRow:
    """One goal case at 1 and 2 threads, wall microseconds per call."""

    name: str
    wall_1_us: float
    wall_2_us: float


def _codes(rng: np.random.Generator, rows: int, cols: int, density: float,
           zero: bool = True) -> npt.NDArray[np.uint8]:
    lo = 1 if zero else 0
    vals = rng.integers(lo, 16, (rows, cols), dtype=np.uint8)
    if density >= 1.0:
        return vals
    return np.where(rng.random((rows, cols), dtype=np.float32) < density, vals,
                    np.uint8(0)).astype(np.uint8)


def _x(rng: np.random.Generator, batch: int, cols: int, density: float
       ) -> npt.NDArray[np.float32]:
    x = rng.standard_normal((batch, cols), dtype=np.float32)
    x[rng.random((batch, cols)) >= density] = 0.0
    return x[0] if batch == 1 else x


def _bf16(a: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Values rounded toward zero to bfloat16 (so they are exactly bf16)."""
    return (np.ascontiguousarray(a, np.float32).view(np.uint32) & np.uint32(0xFFFF0000)
            ).view(np.float32)


def _eie_call(case: dict[str, Any], threads: int) -> Fn:
    """eie's public call for a case: bf16 cases hand over the raw bf16 bits."""
    m, x = case["m"], case["x"]
    if case["precision"] != "fp32":
        return functools.partial(spmv, m, x, threads=threads, precision=case["precision"])
    if case["bf16"]:
        bits = (x.view(np.uint32) >> 16).astype(np.uint16)
        return functools.partial(spmv, m, bits, threads=threads, layout=case["layout"],
                                 input_dtype="bfloat16")
    return functools.partial(spmv, m, x, threads=threads)


def _peers(w: npt.NDArray[np.float32], x: npt.NDArray[np.float32], names: tuple[str, ...]
           ) -> dict[str, Fn]:
    import torch

    xt = np.ascontiguousarray(x.T)
    fns: dict[str, Fn] = {}
    tw, tx = torch.from_numpy(w), torch.from_numpy(xt)
    mul = torch.mv if x.ndim == 1 else torch.mm
    if "torch_csr_int32" in names:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            csr = tw.to_sparse_csr()
            csr32 = torch.sparse_csr_tensor(csr.crow_indices().to(torch.int32),
                                            csr.col_indices().to(torch.int32), csr.values(),
                                            size=w.shape)
        fns["torch_csr_int32"] = functools.partial(mul, csr32, tx)
    if "torch_bf16" in names:
        fns["torch_bf16"] = functools.partial(mul, tw.to(torch.bfloat16), tx.to(torch.bfloat16))
    if "numpy_fp32" in names:
        fns["numpy_fp32"] = functools.partial(np.matmul, w, xt)
    return fns


def _time(fns: dict[str, Fn], budget: float) -> tuple[dict[str, float], dict[str, float]]:
    import torch

    with torch.inference_mode():
        return interleaved_medians(fns, budget)


def goal_cases(rng: np.random.Generator, quick: bool, only: str = "") -> list[dict[str, Any]]:
    """The goal cases (matrices, inputs, dense weights); ``only``: keep the names containing one
    of its ";"-separated parts."""
    s = 8 if quick else 1
    cases = [
        ("alex6 b1", (4096, 9216), 0.09, 0.35, 1, "shared", ("torch_csr_int32", "torch_bf16",
                                                             "numpy_fp32")),
        ("alex6 b8", (4096, 9216), 0.09, 0.35, 8, "shared", ("torch_csr_int32", "torch_bf16")),
        ("nt_wd b1", (8791, 600), 0.11, 1.0, 1, "shared", ("torch_csr_int32",)),
        ("dense 4-bit 4096x4096 b1", (4096, 4096), 1.0, 1.0, 1, "shared", ("torch_bf16",
                                                                           "numpy_fp32")),
        ("dense 4-bit 1000x4096 b1", (1000, 4096), 1.0, 1.0, 1, "shared", ("torch_bf16",)),
        ("dense 4-bit 4096x4096 b8", (4096, 4096), 1.0, 1.0, 8, "shared", ("torch_bf16",)),
        ("dense 4-bit 11008x4096 b8", (11008, 4096), 1.0, 1.0, 8, "shared", ("torch_bf16",)),
        ("per-row cb 4096x4096 b1", (4096, 4096), 1.0, 1.0, 1, "rows", ("torch_bf16",)),
        ("per-row cb 4096x4096 b8", (4096, 4096), 1.0, 1.0, 8, "rows", ("torch_bf16",)),
        ("per-row cb 11008x4096 b8", (11008, 4096), 1.0, 1.0, 8, "rows", ("torch_bf16",)),
    ]
    cases += [
        ("dense 4-bit 4096x4096 b8, precision bf16", (4096, 4096), 1.0, 1.0, 8,
         "shared-precision", ("torch_bf16",)),
        ("dense 4-bit 11008x4096 b8, precision bf16", (11008, 4096), 1.0, 1.0, 8,
         "shared-precision", ("torch_bf16",)),
        ("per-row cb 4096x4096 b8, precision bf16", (4096, 4096), 1.0, 1.0, 8,
         "rows-precision", ("torch_bf16",)),
        ("per-row cb 11008x4096 b8, precision bf16", (11008, 4096), 1.0, 1.0, 8,
         "rows-precision", ("torch_bf16",)),
        # precision int8 (W4A8, as ggml's q4 x q8 dot products): the integer kernel where it runs
        ("nt_wd b1, precision int8", (8791, 600), 0.11, 1.0, 1, "shared-int8",
         ("torch_csr_int32",)),
        ("dense 4-bit 4096x4096 b1, precision int8", (4096, 4096), 1.0, 1.0, 1, "shared-int8",
         ("torch_bf16",)),
        ("dense 4-bit 1000x4096 b1, precision int8", (1000, 4096), 1.0, 1.0, 1, "shared-int8",
         ("torch_bf16",)),
        ("dense 4-bit 4096x4096 b8, precision int8", (4096, 4096), 1.0, 1.0, 8, "shared-int8",
         ("torch_bf16",)),
        ("dense 4-bit 11008x4096 b8, precision int8", (11008, 4096), 1.0, 1.0, 8, "shared-int8",
         ("torch_bf16",)),
        ("per-row cb 4096x4096 b1, precision int8", (4096, 4096), 1.0, 1.0, 1, "rows-int8",
         ("torch_bf16",)),
        ("per-row cb 4096x4096 b8, precision int8", (4096, 4096), 1.0, 1.0, 8, "rows-int8",
         ("torch_bf16",)),
        ("dense 4-bit 4096x4096 b8, bf16 in", (4096, 4096), 1.0, 1.0, 8, "shared-bf16",
         ("torch_bf16",)),
        ("dense 4-bit 11008x4096 b8, bf16 in", (11008, 4096), 1.0, 1.0, 8, "shared-bf16",
         ("torch_bf16",)),
        ("per-row cb 4096x4096 b8, bf16 in", (4096, 4096), 1.0, 1.0, 8, "rows-bf16",
         ("torch_bf16",)),
        ("per-row cb 11008x4096 b8, bf16 in", (11008, 4096), 1.0, 1.0, 8, "rows-bf16",
         ("torch_bf16",))]
    for r, c in engine_cases.SMOLLM2_SHAPES:
        for b in (1, 8):
            cases.append((f"SmolLM2 {r}x{c} per-row b{b}", (r, c), 1.0, 1.0, b, "rows",
                          ("torch_bf16",)))
        cases.append((f"SmolLM2 {r}x{c} per-row b8, bf16 in", (r, c), 1.0, 1.0, 8, "rows-bf16",
                       ("torch_bf16",)))
        cases.append((f"SmolLM2 {r}x{c} per-row b1, precision int8", (r, c), 1.0, 1.0, 1,
                      "rows-int8", ("torch_bf16",)))
    if only:
        cases = [c for c in cases if any(p in c[0] for p in only.split(";"))]
    out = []
    for name, (rows, cols), wd, ad, batch, cbk, peers in cases:
        rows, cols = max(16, rows // s), max(16, cols // s)
        from eie.formats import EIEMatrix

        bf16 = cbk.endswith("-bf16")
        if cbk.startswith("rows"):
            codes = _codes(rng, rows, cols, 1.0, zero=False)
            rcb = np.sort(rng.standard_normal((rows, 16), dtype=np.float32), axis=1) * 0.02
            # float16 values, as `eie quantize` stores per-row codebooks (or bfloat16 ones)
            rcb = _bf16(rcb) if bf16 else rcb.astype(np.float16).astype(np.float32)
            m = EIEMatrix.from_group_codes(codes, rcb, 1, num_pes=1, zero_code=False)
            w = np.take_along_axis(rcb, codes.astype(np.intp), axis=1)
        else:
            codes = _codes(rng, rows, cols, wd)
            cb = np.linspace(-1, 1, 16).astype(np.float32)
            cb[0] = 0.0
            cb = _bf16(cb) if bf16 else cb
            m = EIEMatrix.from_codes(codes, cb, num_pes=64)
            w = cb[codes]
        x = _x(rng, batch, cols, ad)
        out.append({"name": name, "m": m, "w": w, "x": _bf16(x) if bf16 else x, "bf16": bf16,
                    "layout": "rowwise" if bf16 else "auto",
                    "precision": ("bf16" if cbk.endswith("-precision") else
                                  "int8" if cbk.endswith("-int8") else "fp32"),
                    "peers": peers, "shape": (rows, cols), "wd": wd, "ad": ad, "batch": batch})
    return out


def run_goals(threads: int, quick: bool, budget: float, seed: int, only: str = ""
              ) -> Iterator[GoalRow]:
    """Each goal case (``only``: as ``goal_cases``) checked against numpy, then timed."""
    rng = np.random.default_rng(seed)
    with thread_limits(threads):
        for case in goal_cases(rng, quick, only):
            m, x = case["m"], case["x"]
            fns: dict[str, Fn] = {"eie": _eie_call(case, threads)}
            lay = chosen_layout(m, x, case["layout"], precision=case["precision"])
            kind = lay.kind
            dtype = "bfloat16" if case["bf16"] else "float32"
            n = 1 if x.ndim == 1 else x.shape[0]
            if lay.uses_amx(n, dtype, "", case["precision"]):
                kind += " (AMX)"
            elif lay.uses_bf16_dot(n, dtype, "", case["precision"]):
                kind += " (bf16 dot)"
            if case["precision"] == "int8" and kind == "rowwise" and kernels.int8_runs():
                kind += " (int8)"
            fns.update(_peers(case["w"], x, case["peers"]))
            y = np.asarray(fns["eie"]())
            if case["precision"] == "int8":
                _check_int8(y, case)
            else:
                tol = kernels.BF16_REL_TOL if case["precision"] == "bf16" else None
                engine_cases.check_agreement(y, case["w"], x, case["name"], tol)
            wall, cpu = _time(fns, budget)
            yield GoalRow(case["name"], kind, wall, cpu)


def _check_int8(y: npt.NDArray[np.float32], case: dict[str, Any]) -> None:
    """An int8 case's result within ``kernels.int8_error_bound`` of numpy's (plus the fp32
    agreement tolerance), input by input."""
    from eie.errors import EngineError

    w, x = case["w"], np.atleast_2d(case["x"])
    ys = np.atleast_2d(y)
    m = case["m"]
    cbs = m.codebook if m.group_rows else np.broadcast_to(m.codebook, (m.rows, m.codebook_len))
    for b in range(x.shape[0]):
        exact = w.astype(np.float64) @ x[b].astype(np.float64)
        bound = (kernels.int8_error_bound(w, x[b], cbs)
                 + engine_cases.AGREEMENT_TOL * (np.abs(w) @ np.abs(x[b])) + 1e-30)
        bad = np.abs(ys[b] - exact) > bound
        if bad.any():
            i = int(np.argmax(bad))
            raise EngineError(f"bench case {case['name']}: eie's int8 result is outside its "
                              f"bound at ({b}, {i}): {float(ys[b, i])} vs {float(exact[i])}")


def run_sweep(threads: int, quick: bool, budget: float, seed: int) -> Iterator[SweepRow]:
    """A 4096x4096 layer (512x512 quick) from 1% to 100% weights against numpy and torch."""
    from eie.formats import EIEMatrix

    rng = np.random.default_rng(seed)
    rows, cols = (4096, 4096) if not quick else (512, 512)
    cb = np.linspace(-1, 1, 16).astype(np.float32)
    cb[0] = 0.0
    u = rng.random((rows, cols), dtype=np.float32)
    vals = rng.integers(1, 16, (rows, cols), dtype=np.uint8)
    x = rng.standard_normal(cols, dtype=np.float32)
    with thread_limits(threads):
        for d in (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0):
            codes = np.where(u < d, vals, np.uint8(0)).astype(np.uint8)
            m = EIEMatrix.from_codes(codes, cb, num_pes=64)
            fns: dict[str, Fn] = {"eie": functools.partial(spmv, m, x, threads=threads),
                                  **_peers(cb[codes], x, ("numpy_fp32", "torch_bf16"))}
            _, cpu = _time(fns, budget)
            yield SweepRow(d, layout.choose_layout(m.density), cpu)


OVERHEAD_KERNEL = "kernel (CpuLayout.run_f32)"
"""``run_overheads``' bare kernel call, the others' reference."""


def run_overheads(budget: float) -> dict[str, float]:
    """CPU microseconds per call on a 64x64 layer (1 thread): the bare kernel call
    (``OVERHEAD_KERNEL``), ``spmv``, ``Engine`` and ``EIELinear``."""
    import torch

    from eie.engine import Engine
    from eie.engine.torch import EIELinear
    from eie.formats import EIEMatrix
    from eie.formats.model import Layer

    rng = np.random.default_rng(0)
    codes = _codes(rng, 64, 64, 0.5)
    cb = np.linspace(-1, 1, 16).astype(np.float32)
    cb[0] = 0.0
    m = EIEMatrix.from_codes(codes, cb, num_pes=4)
    lay = layout.from_matrix(m)
    x = rng.standard_normal(64, dtype=np.float32)
    x2, out = x.reshape(1, -1), np.empty((1, 64), np.float32)
    eng, lin, xt = Engine(m, threads=1), EIELinear(Layer("l", m), threads=1), torch.from_numpy(x2)
    fns: dict[str, Fn] = {
        OVERHEAD_KERNEL: functools.partial(lay.run_f32, x2, out, None, False, 1, ""),
        "spmv": functools.partial(spmv, m, x, threads=1),
        "Engine": functools.partial(eng, x),
        "EIELinear": functools.partial(lin, xt)}
    with torch.inference_mode():
        _, cpu = interleaved_medians(fns, budget, min_reps=300, max_reps=30000)
    return cpu


def run_encoder(quick: bool) -> Iterator[EncoderRow]:
    """The encoder, the CPU layout builder and the re-layer, best of 3 calls' CPU time each."""
    from eie.formats import EIEMatrix

    rng = np.random.default_rng(0)
    for rows, cols, d in ((4096, 9216, 0.09), (4096, 4096, 1.0), (11008, 4096, 1.0)):
        if quick:
            rows, cols = rows // 8, cols // 8
        codes = _codes(rng, rows, cols, d)
        cb = np.linspace(-1, 1, 16).astype(np.float32)
        cb[0] = 0.0
        m = EIEMatrix.from_codes(codes, cb, num_pes=64)
        n = rows * cols  # weights
        enc = best_of(functools.partial(EIEMatrix.from_codes, codes, cb, num_pes=64)).cpu_us
        lay = best_of(functools.partial(layout.from_matrix, m, threads=1)).cpu_us
        re = best_of(functools.partial(m.with_num_pes, 32)).cpu_us
        yield EncoderRow(rows, cols, d, n / enc, n / lay, n / re)  # weights per µs = Mw/s


def run_threads(budget: float, seed: int) -> Iterator[ThreadsRow]:
    """The first twelve goal cases (full size) at 1 and 2 threads."""
    rng = np.random.default_rng(seed)
    for case in goal_cases(rng, False)[:12]:
        fns: dict[str, Fn] = {str(t): _eie_call(case, t) for t in (1, 2)}
        wall, _ = interleaved_medians(fns, budget)
        yield ThreadsRow(case["name"], wall["1"], wall["2"])


PARTS = ("goals", "sweep", "overheads", "encoder", "threads")

