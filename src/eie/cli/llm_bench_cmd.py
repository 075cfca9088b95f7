"""``eie bench-llm``: decoding on eie's runtime against torch fp32 eager, the Linear time per
token against its streaming floor, and activation sparsity (the measurements are
``eie.llm.bench_generate``'s; ``python -m eie.llm.bench_generate`` runs this command)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

HELP = ("benchmark decoding of a quantized causal LM: eie runtime vs torch fp32 eager "
        "(interleaved, wall and thread CPU), Linear time vs its streaming floor, activation "
        "sparsity")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", type=Path, help="a quantized causal-LM .eie file")
    p.add_argument("--threads", type=int, default=1)
    from eie.cli.eval_cmd import add_precision_argument

    add_precision_argument(p)
    p.add_argument("--tokens", type=int, default=64, help="new tokens per run (default 64)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--prompt", default="The Efficient Inference Engine runs compressed "
                                       "networks on")
    p.add_argument("--calib", type=Path, default=None,
                   help="calibration text: with --text, measures activation sparsity")
    p.add_argument("--text", type=Path, default=None, help="text for the perplexity")
    p.add_argument("--sparsity", type=float, nargs="+", default=[0, 0.25, 0.4, 0.5])
    p.add_argument("--alloc", default="uniform", choices=["uniform", "block", "model"],
                   help="per-input sparsity allocation (eie.llm.actalloc; default uniform)")
    p.add_argument("--score", default="abs", choices=["abs", "wina"],
                   help="threshold score: |x| or |x| * ||W[:, j]|| (wina)")
    p.add_argument("--ppl-tokens", type=int, default=1024)
    p.add_argument("--calib-tokens", type=int, default=1024)
    p.add_argument("--profile-tokens", type=int, default=256,
                   help="calibration tokens of the allocation profile (default 256)")
    p.add_argument("--act-profile", type=Path, default=None, metavar="FILE",
                   help="the allocation profile's file: read when it exists, else measured "
                        "and written there (as in eie eval)")
    p.add_argument("--dense-lm-head", action="store_true",
                   help="run a quantized LM head as a float32 dense matrix (its dequantized "
                        "values, torch GEMV), as for a model whose head is kept")
    p.add_argument("--no-decode", action="store_true",
                   help="skip the eie-vs-torch decode and the floor (activation sparsity only)")
    p.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    from eie.engine import isa_status
    from eie.engine.kernels import check_threads
    from eie.llm import bench_generate as bg
    from eie.llm.calibrate import read_text
    from eie.llm.runtime import load_runtime

    check_threads(args.threads)
    argv = getattr(args, "command_line", ["eie", "bench-llm"])
    res: dict[str, Any] = {"command": " ".join(argv), "isa": isa_status()}
    t0 = time.perf_counter()
    if args.dense_lm_head:
        from eie.llm import modelfile
        from eie.llm.runtime import Runtime

        loaded = modelfile.load(args.model)
        rt = Runtime(loaded, {n: q for n, q in loaded.quantized.items() if n != "lm_head"},
                     threads=args.threads, precision=args.precision,
                     head_dtype=args.lm_head_dtype)
    else:
        rt = load_runtime(args.model, threads=args.threads, precision=args.precision,
                          head_dtype=args.lm_head_dtype)
    from eie.cli.generate_cmd import _int8_kernel

    res["precision"], res["int8_kernel"] = args.precision, _int8_kernel(args.precision)
    res["lm_head_dtype"] = args.lm_head_dtype
    res["load_seconds"] = time.perf_counter() - t0
    if not args.no_decode:
        res["decode"] = bg.decode_vs_torch(rt, args.prompt, args.tokens, args.rounds,
                                           args.threads)
        res["linear_floor"] = bg.linear_floor_rounds(
            rt, res["decode"]["eie_breakdown_ms_per_token"], args.threads,
            rounds=max(5, args.rounds))
        head = rt.decoder.lm_head if rt.decoder is not None else None
        # a quantized or float16 head vs a float32 GEMV of the same values
        if head is not None and (head.kind == "engine" or head.dense16 is not None):
            res["lm_head"] = bg.linear_vs_dense(head)
        print(json.dumps(res, default=str), file=sys.stderr, flush=True)  # partial results
    if args.calib is not None and args.text is not None:
        calib = read_text(args.calib)
        prof = None
        if args.alloc != "uniform" or args.score != "abs":
            from eie.cli.eval_cmd import act_profile

            args.act_score, args.act_profile_tokens = args.score, args.profile_tokens
            prof = act_profile(args, rt.loaded, calib)
        res["act_sparsity"] = bg.act_sparsity(
            rt, calib, read_text(args.text), args.sparsity, args.ppl_tokens,
            args.tokens, args.rounds, args.calib_tokens, args.alloc, args.score,
            args.profile_tokens, prof)
        res["zero_skipping_kernels"] = bg.zero_skipping_kernels(args.sparsity, args.threads)
    print(json.dumps(res, indent=2, default=str) if args.json else _text(res))
    return 0


def _text(res: dict[str, Any]) -> str:
    lines = [res["command"], f"isa: {res['isa']}"]
    if "decode" in res:
        d, f = res["decode"], res["linear_floor"]
        lines += [
            f"decode ({d['new_tokens']} tokens, {d['threads']} thread(s)): eie "
            f"{d['eie_tokens_per_s']:.1f} tok/s ({d['eie_tokens_per_cpu_s']:.1f} per CPU s), "
            f"torch fp32 {d['torch_tokens_per_s']:.1f} ({d['torch_tokens_per_cpu_s']:.1f}); "
            f"x {d['speedup_wall']:.2f} wall ({d['speedup_cpu']:.2f} CPU); same tokens: "
            f"{d['same_tokens']}",
            "eie ms/token: " + ", ".join(f"{k} {v:.3f}"
                                         for k, v in d["eie_breakdown_ms_per_token"].items()),
            f"read bandwidth {f['bandwidth_gb_s']['read_wall']:.1f} GB/s wall, "
            f"{f['bandwidth_gb_s']['read_cpu']:.1f} per CPU s (medians of {len(f['rounds'])} rounds); "
            "Linear kernels "
            f"{f['kernels_ms_per_token']:.3f} ms/token ({f['kernels_cpu_ms_per_token']:.3f} "
            f"CPU) vs floor {f['floor_ms_per_token']:.3f} ({f['floor_cpu_ms_per_token']:.3f} "
            f"CPU) for {f['linear_stream_mb_per_token']:.1f} MB: x {f['linear_over_floor']:.2f} "
            f"(x {f['linear_over_floor_cpu']:.2f} CPU)"
            + ("" if f.get("kernels_inside_ms_per_token") is None else
               f"; inside the C++ calls {f['kernels_inside_ms_per_token']:.3f} ms/token: "
               f"x {f['inside_over_floor']:.2f}")]
    if "lm_head" in res:
        h = res["lm_head"]
        lines.append(f"LM head on the engine ({h['kind']}) {h['engine_cpu_ms']:.2f} CPU ms vs "
                     f"float32 GEMV "
                     f"{h['dense_cpu_ms']:.2f} (x{h['speedup_cpu']:.2f})")
    for r in res.get("act_sparsity", []):
        lines.append(f"act sparsity {r['target']:.2f} ({r['alloc']}, {r['score']}; realised "
                     f"{r['realised']:.3f}, layout {r['layout']}): ppl {r['perplexity']:.2f} "
                     f"(x{r['perplexity_vs_dense']:.3f}), Linear "
                     f"{r['linear_cpu_ms_per_token']:.3f} CPU ms/token "
                     f"(x{r['linear_speedup_cpu']:.2f})")
    for r in res.get("zero_skipping_kernels", []):
        extra = ""
        if "colrow_us" in r:
            extra = (f", colrow {r['colrow_us']:.1f} us (x{r['colrow_vs_rowwise_dense']:.2f} "
                     "vs rowwise at 0)")
        lines.append(f"kernels at {r['sparsity']:.2f} zero inputs: dense layout "
                     f"{r['dense_us']:.1f} us (x{r['dense_speedup']:.2f}), rowwise "
                     f"{r['rowwise_us']:.1f} us (x{r['rowwise_speedup']:.2f}){extra}")
    return "\n".join(lines)
