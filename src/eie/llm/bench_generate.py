"""Decoding benchmark: ``eie generate``'s runtime against torch fp32 eager (transformers), the
Linear time per token against its weights' streaming floor, and activation sparsity.

    python -m eie.llm.bench_generate MODEL.eie --threads 1 [--tokens 64] [--rounds 3]
        [--calib TEXT --text TEXT --sparsity 0 0.25 0.4 0.5] [--json]

Everything runs in one process, in interleaved rounds (eie, torch, eie, torch, ...), medians
reported; beside each wall time the calling thread's CPU time (``time.thread_time``: with one
thread, the whole CPU cost of that side; a preempted run's wall time grows, its CPU time does
not). Both sides use the same weights: torch runs the model file's dequantized float32 weights.

- memory bandwidth: the best of a few passes of ``np.sum`` over a 512 MiB float32 array (a read
  stream, like a weight stream), measured before and after;
- streaming floor of the Linear layers: the bytes their kernels read per token (4-bit codes and
  fp32 codebooks; ``EngineLinear.stream_bytes``) / that bandwidth;
- activation sparsity: per-layer thresholds from the calibration text, perplexity on the
  engine path over ``--ppl-tokens`` tokens of ``--text``, and the decode Linear time per token;
  plus the kernel-level effect of zero skipping where the engine has it (the column-major
  ``dense`` layout of a shared 16-entry codebook, on SmolLM2's shapes): the per-row-codebook
  ``rowwise`` layout is row-major and does not skip zero inputs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
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


def linear_kernels(rt: Any, reps: int = 20, sparsity: float = 0.0) -> dict[str, float]:
    """Wall and thread CPU ms of one token's Linear multiplies (every decoder Linear once, batch
    1, in model order), the median of ``reps`` passes; a fraction ``sparsity`` of each input's
    entries is zero (the smallest magnitudes, as the thresholds do)."""
    rng = np.random.default_rng(0)
    lins = rt.decoder.linears
    xs = []
    for lin in lins:
        x = rng.standard_normal((1, lin.cols)).astype(np.float32)
        if sparsity > 0:
            x[np.abs(x) < np.quantile(np.abs(x), sparsity)] = 0.0
        xs.append(x)
    walls, cpus = [], []
    for _ in range(reps):
        w, c = time.perf_counter(), time.thread_time()
        for lin, x in zip(lins, xs, strict=True):
            lin(x)
        walls.append(time.perf_counter() - w)
        cpus.append(time.thread_time() - c)
    return {"wall_ms": 1e3 * statistics.median(walls), "cpu_ms": 1e3 * statistics.median(cpus)}


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


def linear_floor(rt: Any, breakdown: dict[str, float], bw: dict[str, float],
                 kernels: dict[str, float]) -> dict[str, Any]:
    """The Linear time per token against the time to stream its bytes once at the measured read
    bandwidth: wall against wall, thread CPU against thread CPU (one thread)."""
    stream = rt.linear_stream_bytes()
    floor_wall = stream / (max(v for k, v in bw.items() if k.startswith("read_wall")) * 1e9) * 1e3
    floor_cpu = stream / (bw["read_cpu"] * 1e9) * 1e3
    return {"linear_stream_mb_per_token": stream / 1e6, "bandwidth_gb_s": bw,
            "floor_ms_per_token": floor_wall, "floor_cpu_ms_per_token": floor_cpu,
            "decode_linear_ms_per_token": breakdown["linear"],
            "kernels_ms_per_token": kernels["wall_ms"],
            "kernels_cpu_ms_per_token": kernels["cpu_ms"],
            "linear_over_floor": kernels["wall_ms"] / floor_wall,
            "linear_over_floor_cpu": kernels["cpu_ms"] / floor_cpu}


def act_sparsity(rt: Any, calib: str, text: str, levels: list[float], ppl_tokens: int,
                 tokens: int, rounds: int, calib_tokens: int = 1024) -> list[dict[str, Any]]:
    from eie.llm import actsparsity
    from eie.llm.calibrate import calibrate

    cal = calibrate(rt.loaded, calib, max_tokens=calib_tokens, samples=True)
    rows = []
    ids = rt.encode_prompt("The engine")
    for s in levels:
        rt.set_act_sparsity(actsparsity.thresholds(cal.abs_samples, s))
        ppl = rt.perplexity(text, 512, ppl_tokens)["perplexity"]
        cpu = []
        for _ in range(rounds):
            g = rt.generate(ids, tokens, stop_at_eos=False)
            cpu.append(g.cpu_seconds / g.new_tokens * 1e3)
        rows.append({"target": s, "perplexity": ppl,
                     "decode_cpu_ms_per_token": statistics.median(cpu)})
    rt.set_act_sparsity({})
    for _ in range(rounds):  # kernels with zeroed inputs, levels interleaved
        for r in rows:
            k = linear_kernels(rt, 10, r["target"])
            r.setdefault("_k", []).append(k)
    for r in rows:
        ks = r.pop("_k")
        r["linear_ms_per_token"] = statistics.median(k["wall_ms"] for k in ks)
        r["linear_cpu_ms_per_token"] = statistics.median(k["cpu_ms"] for k in ks)
    for r in rows:
        r["perplexity_vs_dense"] = r["perplexity"] / rows[0]["perplexity"]
        r["linear_speedup_cpu"] = rows[0]["linear_cpu_ms_per_token"] / r["linear_cpu_ms_per_token"]
    return rows


SHAPES = ((576, 576), (192, 576), (1536, 576), (576, 1536))


def zero_skipping_kernels(levels: list[float], threads: int, reps: int = 200
                          ) -> list[dict[str, Any]]:
    """Kernel time of SmolLM2's shapes with inputs zeroed at random at each level: the shared-
    codebook column-major ``dense`` layout (skips zero inputs) and the per-row ``rowwise``
    layout (does not). Thread CPU time per call, medians of interleaved blocks."""
    from eie.engine import spmv
    from eie.formats import EIEMatrix

    rng = np.random.default_rng(0)
    mats = []
    for rows, cols in SHAPES:
        codes = rng.integers(1, 16, (rows, cols)).astype(np.uint8)
        shared = EIEMatrix.from_codes(  # code 0 means zero here: codes 1..15 are values
            codes, np.concatenate([[0.0], np.linspace(-1, 1, 15)]).astype(np.float32), 1)
        rowcb = EIEMatrix.from_group_codes(codes, rng.standard_normal((rows, 16)).astype(
            np.float32), group_rows=1, zero_code=False)
        mats.append((shared, rowcb))
    out = []
    base: dict[str, float] = {}
    for s in levels:
        x = [rng.standard_normal(c).astype(np.float32) * (rng.random(c) >= s)
             for _, c in SHAPES]
        x = [np.ascontiguousarray(v, np.float32) for v in x]
        times: dict[str, list[float]] = {"dense": [], "rowwise": []}
        for _ in range(5):
            for name, k in (("dense", 0), ("rowwise", 1)):
                c0 = time.thread_time()
                for _ in range(reps):
                    for (mt, xi) in zip(mats, x, strict=True):
                        spmv(mt[k], xi, threads=threads, layout="dense" if k == 0 else "auto")
                times[name].append((time.thread_time() - c0) / reps * 1e6)
        row = {"sparsity": s, **{f"{n}_us": statistics.median(v) for n, v in times.items()}}
        if not base:
            base = {n: row[f"{n}_us"] for n in times}
        for n in times:
            row[f"{n}_speedup"] = base[n] / row[f"{n}_us"]
        out.append(row)
    return out


def main(argv: list[str] | None = None) -> int:
    from eie.engine import isa_status
    from eie.llm.calibrate import read_text
    from eie.llm.runtime import load_runtime

    p = argparse.ArgumentParser(prog="python -m eie.llm.bench_generate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", type=Path, help="a quantized causal-LM .eie file")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--tokens", type=int, default=64, help="new tokens per run (default 64)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--prompt", default="The Efficient Inference Engine runs compressed "
                                       "networks on")
    p.add_argument("--calib", type=Path, default=None)
    p.add_argument("--text", type=Path, default=None)
    p.add_argument("--sparsity", type=float, nargs="+", default=[0, 0.25, 0.4, 0.5])
    p.add_argument("--ppl-tokens", type=int, default=1024)
    p.add_argument("--calib-tokens", type=int, default=1024)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    res: dict[str, Any] = {"command": " ".join(["python -m eie.llm.bench_generate",
                                                 *(argv if argv is not None else sys.argv[1:])]),
                           "isa": isa_status()}
    t0 = time.perf_counter()
    rt = load_runtime(args.model, threads=args.threads)
    res["load_seconds"] = time.perf_counter() - t0
    bw0 = bandwidth_gb_s(threads=args.threads)
    res["decode"] = decode_vs_torch(rt, args.prompt, args.tokens, args.rounds, args.threads)
    kern = linear_kernels(rt)
    bw1 = bandwidth_gb_s(threads=args.threads)
    res["bandwidth_gb_s"] = [bw0, bw1]
    bw = {k: max(bw0[k], bw1[k]) for k in bw0}
    res["linear_floor"] = linear_floor(rt, res["decode"]["eie_breakdown_ms_per_token"], bw, kern)
    print(json.dumps(res, default=str), file=sys.stderr, flush=True)  # partial results
    if args.calib is not None and args.text is not None:
        res["act_sparsity"] = act_sparsity(rt, read_text(args.calib), read_text(args.text),
                                           args.sparsity, args.ppl_tokens, args.tokens,
                                           args.rounds, args.calib_tokens)
        res["zero_skipping_kernels"] = zero_skipping_kernels(args.sparsity, args.threads)
    print(json.dumps(res, indent=2, default=str) if args.json else _text(res))
    return 0


def _text(res: dict[str, Any]) -> str:
    d, f = res["decode"], res["linear_floor"]
    lines = [res["command"], f"isa: {res['isa']}",
             f"decode ({d['new_tokens']} tokens, {d['threads']} thread(s)): eie "
             f"{d['eie_tokens_per_s']:.1f} tok/s ({d['eie_tokens_per_cpu_s']:.1f} per CPU s), "
             f"torch fp32 {d['torch_tokens_per_s']:.1f} ({d['torch_tokens_per_cpu_s']:.1f}); "
             f"x {d['speedup_wall']:.2f} wall ({d['speedup_cpu']:.2f} CPU); same tokens: "
             f"{d['same_tokens']}",
             "eie ms/token: " + ", ".join(f"{k} {v:.3f}"
                                          for k, v in d["eie_breakdown_ms_per_token"].items()),
             f"read bandwidth {f['bandwidth_gb_s']['read_wall']:.1f} GB/s wall, "
             f"{f['bandwidth_gb_s']['read_cpu']:.1f} per CPU s; Linear kernels "
             f"{f['kernels_ms_per_token']:.3f} ms/token ({f['kernels_cpu_ms_per_token']:.3f} CPU) "
             f"vs floor {f['floor_ms_per_token']:.3f} ({f['floor_cpu_ms_per_token']:.3f} CPU) for "
             f"{f['linear_stream_mb_per_token']:.1f} MB: x {f['linear_over_floor']:.2f} "
             f"(x {f['linear_over_floor_cpu']:.2f} CPU)"]
    for r in res.get("act_sparsity", []):
        lines.append(f"act sparsity {r['target']:.2f}: ppl {r['perplexity']:.2f} "
                     f"(x{r['perplexity_vs_dense']:.3f}), Linear kernels "
                     f"{r['linear_cpu_ms_per_token']:.3f} CPU ms/token "
                     f"(x{r['linear_speedup_cpu']:.2f})")
    for r in res.get("zero_skipping_kernels", []):
        lines.append(f"kernels at {r['sparsity']:.2f} zero inputs: dense layout "
                     f"{r['dense_us']:.1f} us (x{r['dense_speedup']:.2f}), rowwise "
                     f"{r['rowwise_us']:.1f} us (x{r['rowwise_speedup']:.2f})")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
