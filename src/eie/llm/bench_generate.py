"""Decoding benchmark: ``eie generate``'s runtime against torch fp32 eager (transformers), the
Linear time per token against its weights' streaming floor, and activation sparsity.

    eie bench-llm MODEL.eie --threads 1 [--tokens 64] [--rounds 3]
        [--calib TEXT --text TEXT --sparsity 0 0.25 0.4 0.5] [--json]
    python -m eie.llm.bench_generate ...        (the same command)

(the command line is ``eie.cli.llm_bench_cmd``; this module holds the measurements).

Everything runs in one process, in interleaved rounds (eie, torch, eie, torch, ...), medians
reported; beside each wall time the calling thread's CPU time (``time.thread_time``: with one
thread, the whole CPU cost of that side; a preempted run's wall time grows, its CPU time does
not). Both sides use the same weights: torch runs the model file's dequantized float32 weights.

- memory bandwidth: the best of a few passes of ``np.sum`` over a 512 MiB float32 array (a read
  stream, like a weight stream), measured before and after;
- streaming floor of the Linear layers: the bytes their kernels read per token (4-bit codes and
  fp32 codebooks, or int8 tables and scales under ``--precision int8``;
  ``EngineLinear.stream_bytes``) / that bandwidth;
- activation sparsity: per-layer thresholds from the calibration text, perplexity on the
  engine path over ``--ppl-tokens`` tokens of ``--text``, and the decode Linear time per token;
  plus the kernel-level effect of zero skipping where the engine has it (the column-major
  ``dense`` layout of a shared 16-entry codebook, on SmolLM2's shapes): the per-row-codebook
  ``rowwise`` layout is row-major and does not skip zero inputs.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np


def bandwidth_gb_s(mib: int = 512, passes: int = 4, threads: int = 1) -> dict[str, float]:
    """Read bandwidth of one thread over a ``mib`` MiB float32 array: the best pass of
    ``np.max`` (a vectorised read stream), per wall second and per thread CPU second; and
    ``memcpy`` traffic (read + write bytes) for reference; with ``threads`` > 1 also torch's
    parallel max on that many threads (wall)."""
    a = np.ones(mib * (1 << 20) // 4, np.float32)
    b = np.empty_like(a)
    best = {"read_wall": 0.0, "read_cpu": 0.0, "memcpy_wall": 0.0}
    for _ in range(passes):
        w, c, _r = _timed(lambda: float(a.max()))
        best["read_wall"] = max(best["read_wall"], a.nbytes / w / 1e9)
        best["read_cpu"] = max(best["read_cpu"], a.nbytes / max(c, 1e-9) / 1e9)
        w, _c, _r = _timed(lambda: np.copyto(b, a))
        best["memcpy_wall"] = max(best["memcpy_wall"], 2 * a.nbytes / w / 1e9)
    if threads > 1:  # the kernels' threads read together: torch's parallel max, wall time
        import torch

        from eie.llm.runtime import torch_threads

        t = torch.from_numpy(a)
        best[f"read_wall_{threads}_threads"] = 0.0
        with torch_threads(threads):
            for _ in range(passes):
                w, _c, _r = _timed(lambda: float(t.max()))
                key = f"read_wall_{threads}_threads"
                best[key] = max(best[key], a.nbytes / w / 1e9)
    return best


def linear_kernels(rt: Any, reps: int = 20, sparsity: float = 0.0) -> dict[str, Any]:
    """Wall and thread CPU ms of one token's Linear multiplies (every decoder Linear once, batch
    1, in model order, called from Python as the decoder calls them), the median of ``reps``
    passes; ``inside_ms``: the median over the same passes of the wall time spent inside the
    engine's C++ calls (``EngineLinear.kernel_us``; None if a Linear is a dense fallback). A
    fraction ``sparsity`` of each input's entries is zero (the smallest magnitudes, as the
    thresholds do)."""
    rng = np.random.default_rng(0)
    lins = rt.decoder.linears
    xs = []
    for lin in lins:
        x = rng.standard_normal((1, lin.cols)).astype(np.float32)
        if sparsity > 0:
            x[np.abs(x) < np.quantile(np.abs(x), sparsity)] = 0.0
        xs.append(x)
    walls: list[float] = []
    cpus: list[float] = []
    inside: list[float] = []
    complete = True
    for _ in range(reps):
        w, c = time.perf_counter(), time.thread_time()
        for lin, x in zip(lins, xs, strict=True):
            lin(x)
        walls.append(time.perf_counter() - w)
        cpus.append(time.thread_time() - c)
        us = [lin.kernel_us() for lin in lins]
        complete = complete and None not in us
        inside.append(1e-3 * sum(u or 0.0 for u in us))
    return {"wall_ms": 1e3 * statistics.median(walls), "cpu_ms": 1e3 * statistics.median(cpus),
            "inside_ms": statistics.median(inside) if complete else None}


def linear_vs_dense(lin: Any, reps: int = 10, rounds: int = 7) -> dict[str, Any]:
    """One engine Linear (the quantized LM head, or a float16 one on the float16 GEMV) against a
    float32 dense twin of the same values on torch's GEMV, batch 1, interleaved rounds, medians:
    ms per call, thread CPU and wall; ``kind`` says which the engine's was."""
    from eie.llm.engine_linear import EngineLinear

    if lin.dense16 is not None:
        dense = lin.dense16.view(np.float16).astype(np.float32)
    else:
        dense = np.concatenate([m.to_dense() for m in lin._matrices], axis=1)
    twin = EngineLinear(lin.name, lin.rows, lin.cols, None, lin.bias, dense=dense,
                        threads=lin._threads)
    x = np.random.default_rng(0).standard_normal((1, lin.cols)).astype(np.float32)
    times: dict[str, list[tuple[float, float]]] = {"engine": [], "dense": []}
    for _ in range(rounds):
        for name, f in (("engine", lin), ("dense", twin)):
            w, c = time.perf_counter(), time.thread_time()
            for _ in range(reps):
                f(x)
            times[name].append(((time.thread_time() - c) / reps * 1e3,
                                (time.perf_counter() - w) / reps * 1e3))
    out: dict[str, Any] = {f"{n}_cpu_ms": statistics.median(a for a, _ in v)
                           for n, v in times.items()}
    out.update({f"{n}_wall_ms": statistics.median(b for _, b in v) for n, v in times.items()})
    out["speedup_cpu"] = out["dense_cpu_ms"] / max(out["engine_cpu_ms"], 1e-9)
    out["kind"] = "float16 GEMV" if lin.dense16 is not None else "quantized"
    return out


def _timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    w, c = time.perf_counter(), time.thread_time()
    r = fn()
    return time.perf_counter() - w, time.thread_time() - c, r


def _torch_generate(model: Any, ids: list[int], n: int) -> list[int]:
    import torch

    with torch.no_grad():
        out = model.generate(torch.tensor([ids]), max_new_tokens=n, min_new_tokens=n,
                             do_sample=False, pad_token_id=0)
    return [int(t) for t in out[0, len(ids):]]


def decode_vs_torch(rt: Any, prompt: str, tokens: int, rounds: int, threads: int
                    ) -> dict[str, Any]:
    """tokens/s of the runtime and of transformers' generate (fp32 eager), interleaved."""
    import torch

    from eie.llm.runtime import torch_threads

    ids = rt.encode_prompt(prompt)
    eie_runs, torch_runs = [], []
    same = None
    with torch_threads(threads):
        torch_n = torch.get_num_threads()
        for _ in range(rounds):
            g = rt.generate(ids, tokens, stop_at_eos=False)
            eie_runs.append(g)
            w, c, toks = _timed(lambda: _torch_generate(rt.loaded.model, ids, tokens))
            torch_runs.append((w, c))
            same = toks == g.token_ids if same is None else same and toks == g.token_ids
    eie_w = statistics.median(g.seconds for g in eie_runs)
    eie_c = statistics.median(g.cpu_seconds for g in eie_runs)
    t_w = statistics.median(w for w, _ in torch_runs)
    t_c = statistics.median(c for _, c in torch_runs)
    best = min(eie_runs, key=lambda g: g.seconds)
    return {"prompt_tokens": len(ids), "new_tokens": tokens, "threads": threads,
            "torch_threads": torch_n,
            "eie_tokens_per_s": tokens / eie_w, "eie_tokens_per_cpu_s": tokens / eie_c,
            "torch_tokens_per_s": tokens / t_w, "torch_tokens_per_cpu_s": tokens / t_c,
            "speedup_wall": t_w / eie_w, "speedup_cpu": t_c / eie_c,
            "same_tokens": bool(same),
            "eie_breakdown_ms_per_token": best.as_dict()["breakdown_ms_per_token"]}


def linear_floor(rt: Any, bw: dict[str, float], kernels: dict[str, Any]) -> dict[str, Any]:
    """The Linear time per token against the time to stream its bytes once at the measured read
    bandwidth: wall against wall, thread CPU against thread CPU (one thread); and the wall time
    inside the engine's C++ calls against the wall floor."""
    stream = rt.linear_stream_bytes()
    floor_wall = stream / (max(v for k, v in bw.items() if k.startswith("read_wall")) * 1e9) * 1e3
    floor_cpu = stream / (bw["read_cpu"] * 1e9) * 1e3
    inside = kernels.get("inside_ms")
    return {"linear_stream_mb_per_token": stream / 1e6, "bandwidth_gb_s": bw,
            "floor_ms_per_token": floor_wall, "floor_cpu_ms_per_token": floor_cpu,
            "kernels_ms_per_token": kernels["wall_ms"],
            "kernels_cpu_ms_per_token": kernels["cpu_ms"],
            "linear_over_floor": kernels["wall_ms"] / floor_wall,
            "linear_over_floor_cpu": kernels["cpu_ms"] / floor_cpu,
            "kernels_inside_ms_per_token": inside,
            "inside_over_floor": None if inside is None else inside / floor_wall}


def linear_floor_rounds(rt: Any, breakdown: dict[str, float], threads: int,
                        rounds: int = 5, mib: int = 512) -> dict[str, Any]:
    """``linear_floor`` measured ``rounds`` times, the read bandwidth and the Linear pass in
    turn, so each round's ratio compares two measurements seconds apart (a shared host's
    memory bandwidth moves by 1.5x between minutes); every figure is the median over the rounds
    (the ratios are medians of the rounds' ratios), ``rounds`` keeps each round."""
    per = [linear_floor(rt, bandwidth_gb_s(mib, passes=2, threads=threads), linear_kernels(rt))
           for _ in range(rounds)]
    out: dict[str, Any] = {}
    for key, v in per[0].items():
        if key == "bandwidth_gb_s":
            out[key] = {k: statistics.median(p[key][k] for p in per) for k in v}
        elif v is None or key == "linear_stream_mb_per_token":
            out[key] = v
        else:
            out[key] = statistics.median(p[key] for p in per)
    out["decode_linear_ms_per_token"] = breakdown["linear"]
    out["rounds"] = [{k: v for k, v in p.items() if k != "linear_stream_mb_per_token"}
                     for p in per]
    return out


def act_limits(rt: Any, calib: str, levels: list[float], alloc: str, score: str,
               calib_tokens: int, profile_tokens: int, profile: Any = None
               ) -> tuple[list[dict[str, Any]], Any]:
    """Thresholds for each level: uniform ``|x|`` quantiles (``eie.llm.actsparsity``), or an
    ``eie.llm.actalloc`` profile's allocation (``alloc`` block / model, or ``score`` wina;
    ``profile`` one measured before)."""
    from eie.llm import actalloc, actsparsity
    from eie.llm.calibrate import calibrate

    if alloc == "uniform" and score == "abs":
        cal = calibrate(rt.loaded, calib, max_tokens=calib_tokens, samples=True)
        return [actsparsity.thresholds(cal.abs_samples, s) for s in levels], None
    prof = profile or actalloc.profile(rt.loaded, calib, score=score, max_tokens=profile_tokens)
    return [prof.limits(s, alloc) for s in levels], prof


def recorded_inputs(rt: Any, ids: list[int], tokens: int) -> list[list[np.ndarray]]:
    """Each decoder Linear's batch-1 inputs over a greedy decode of ``tokens`` tokens (the
    prompt's prefill left out), with the thresholds set now: ``[linear][step]``."""
    lins = rt.decoder.linears
    for lin in lins:
        lin.record = []
    try:
        rt.generate(ids, tokens, stop_at_eos=False)
        return [[x for x in lin.record if x.shape[0] == 1] for lin in lins]
    finally:
        for lin in lins:
            lin.record = None


def replay_ms(rt: Any, inputs: list[list[np.ndarray]]) -> dict[str, float]:
    """Wall and thread CPU ms per token of the decoder's Linear calls on recorded inputs
    (every Linear of every recorded step once; the median step)."""
    lins = rt.decoder.linears
    steps = min(len(v) for v in inputs)
    walls, cpus = [], []
    for k in range(steps):
        w, c = time.perf_counter(), time.thread_time()
        for lin, xs in zip(lins, inputs, strict=True):
            lin(xs[k])
        walls.append(time.perf_counter() - w)
        cpus.append(time.thread_time() - c)
    return {"wall_ms": 1e3 * statistics.median(walls), "cpu_ms": 1e3 * statistics.median(cpus)}


def act_sparsity(rt: Any, calib: str, text: str, levels: list[float], ppl_tokens: int,
                 tokens: int, rounds: int, calib_tokens: int = 1024, alloc: str = "uniform",
                 score: str = "abs", profile_tokens: int = 256, profile: Any = None
                 ) -> list[dict[str, Any]]:
    """Perplexity on the engine path and the decode Linear time per token at each level.

    The Linear time is measured on the inputs the decoder really gave its Linear layers during a
    greedy decode at that level (recorded, then replayed through the kernels in interleaved
    rounds, thread CPU). Level 0 runs the default layout; levels above 0 the zero-skipping one
    when the engine has it (``Runtime.set_act_sparsity``). ``realised`` is the fraction of
    Linear work (input entries weighted by the rows they multiply) the zeros skip."""
    limits, prof = act_limits(rt, calib, levels, alloc, score, calib_tokens, profile_tokens,
                              profile)
    rows = []
    ids = rt.encode_prompt("The engine")
    for s, lim in zip(levels, limits, strict=True):
        rt.set_act_sparsity(lim)
        ppl = rt.perplexity(text, 512, ppl_tokens)["perplexity"]
        inputs = recorded_inputs(rt, ids, tokens)
        w = [lin.rows for lin in rt.decoder.linears]
        zeros = sum(wi * sum(int((x == 0).sum()) for x in xs) for wi, xs in zip(w, inputs,
                                                                            strict=True))
        total = sum(wi * sum(x.size for x in xs) for wi, xs in zip(w, inputs, strict=True))
        row: dict[str, Any] = {"target": s, "alloc": alloc, "score": score, "perplexity": ppl,
                               "realised": zeros / max(total, 1), "layout": rt.linear_layout,
                               "_inputs": inputs, "_limits": lim}
        if prof is not None:
            row["allocation"] = prof.summary(s, alloc)
        rows.append(row)
    for _ in range(rounds):  # levels interleaved, each on its own layout
        for r in rows:
            rt.set_act_sparsity(r["_limits"])
            r.setdefault("_k", []).append(replay_ms(rt, r["_inputs"]))
    rt.set_act_sparsity({})
    for r in rows:
        ks = r.pop("_k")
        del r["_inputs"], r["_limits"]
        r["linear_ms_per_token"] = statistics.median(k["wall_ms"] for k in ks)
        r["linear_cpu_ms_per_token"] = statistics.median(k["cpu_ms"] for k in ks)
    for r in rows:
        r["perplexity_vs_dense"] = r["perplexity"] / rows[0]["perplexity"]
        r["linear_speedup_cpu"] = rows[0]["linear_cpu_ms_per_token"] / r["linear_cpu_ms_per_token"]
    if prof is not None:
        rows[0]["profile_seconds"] = prof.seconds
    return rows


SHAPES = ((576, 576), (192, 576), (1536, 576), (576, 1536))


def zero_skipping_kernels(levels: list[float], threads: int, reps: int = 200
                          ) -> list[dict[str, Any]]:
    """Kernel time of SmolLM2's shapes with inputs zeroed at random at each level: the shared-
    codebook column-major ``dense`` layout (skips zero inputs), the per-row ``rowwise`` layout
    (does not) and, where the engine has it, the per-row codebooks on the zero-skipping layout
    (``colrow``). Thread CPU time per call, medians of interleaved blocks."""
    from eie.engine import spmv
    from eie.formats import EIEMatrix
    from eie.llm.engine_linear import zero_skipping_layout

    zero_skip = zero_skipping_layout()

    rng = np.random.default_rng(0)
    mats = []
    for rows, cols in SHAPES:
        codes = rng.integers(1, 16, (rows, cols)).astype(np.uint8)
        shared = EIEMatrix.from_codes(  # code 0 means zero here: codes 1..15 are values
            codes, np.concatenate([[0.0], np.linspace(-1, 1, 15)]).astype(np.float32), 1)
        rowcb = EIEMatrix.from_group_codes(  # float16 values, as model files store them
            codes, rng.standard_normal((rows, 16)).astype(np.float16).astype(np.float32),
            group_rows=1, zero_code=False)
        mats.append((shared, rowcb))
    out = []
    base: dict[str, float] = {}
    for s in levels:
        x = [rng.standard_normal(c).astype(np.float32) * (rng.random(c) >= s)
             for _, c in SHAPES]
        x = [np.ascontiguousarray(v, np.float32) for v in x]
        cases = [("dense", 0, "dense"), ("rowwise", 1, "auto")]
        if zero_skip is not None:  # the per-row codebooks on the zero-skipping layout
            cases.append((zero_skip, 1, zero_skip))
        times: dict[str, list[float]] = {name: [] for name, _, _ in cases}
        for _ in range(5):
            for name, k, lay in cases:
                c0 = time.thread_time()
                for _ in range(reps):
                    for (mt, xi) in zip(mats, x, strict=True):
                        spmv(mt[k], xi, threads=threads, layout=lay)
                times[name].append((time.thread_time() - c0) / reps * 1e6)
        row = {"sparsity": s, **{f"{n}_us": statistics.median(v) for n, v in times.items()}}
        if not base:
            base = {n: row[f"{n}_us"] for n in times}
        for n in times:
            row[f"{n}_speedup"] = base[n] / row[f"{n}_us"]
        if zero_skip is not None:  # against the per-row codebooks' default layout, dense inputs
            row[f"{zero_skip}_vs_rowwise_dense"] = base["rowwise"] / row[f"{zero_skip}_us"]
        out.append(row)
    return out


if __name__ == "__main__":
    from eie.cli.main import main

    sys.exit(main(["bench-llm", *sys.argv[1:]]))
