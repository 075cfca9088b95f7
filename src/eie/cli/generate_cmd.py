"""``eie generate``: continue a prompt with a quantized causal LM, every quantized Linear on eie's
kernels (KV cache, batch 1), and report tokens/s and where the time went."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

HELP = ("generate text with a quantized causal LM (.eie from eie quantize) on eie's kernels: "
        "greedy or sampled, tokens/s and a time breakdown")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="a quantized causal-LM .eie file (eie quantize SOURCE -o M.eie)")
    p.add_argument("--prompt", required=True, help="the text to continue")
    p.add_argument("-n", "--max-new-tokens", type=int, default=64,
                   help="tokens to generate at most (default 64; fewer when the model ends "
                        "the text, see --ignore-eos)")
    p.add_argument("--threads", type=int, default=None,
                   help="threads of the kernels and of torch's dense parts (default: "
                        "EIE_NUM_THREADS or all cores)")
    p.add_argument("--act-sparsity", type=float, default=None, metavar="S",
                   help="zero each Linear input entry below its layer's threshold for a target "
                        "sparsity S (0 <= S < 1), thresholds calibrated on --calib")
    p.add_argument("--calib", type=Path, default=None,
                   help="calibration text (UTF-8) for --act-sparsity's thresholds")
    p.add_argument("--calib-tokens", type=int, default=2048,
                   help="calibration tokens used at most (default 2048)")
    from eie.cli.eval_cmd import add_act_arguments, add_precision_argument

    add_act_arguments(p)
    add_precision_argument(p)
    p.add_argument("--temperature", type=float, default=0.0,
                   help="0 (default): greedy; above 0: sample from softmax(logits / T)")
    p.add_argument("--top-k", type=int, default=0, help="sample among the k most likely (0: all)")
    p.add_argument("--top-p", type=float, default=1.0,
                   help="sample within the smallest set of probability >= p (default 1: all)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    p.add_argument("--chat", action="store_true",
                   help="wrap the prompt in the tokenizer's chat template (instruct models)")
    p.add_argument("--ignore-eos", action="store_true",
                   help="keep going past the end-of-text token (exactly -n tokens)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object: text, tokens_per_s, time breakdown, layers")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def _check(args: argparse.Namespace) -> None:
    from eie.errors import ConfigError

    if args.max_new_tokens < 1:
        raise ConfigError(f"-n should be a positive number of tokens, found {args.max_new_tokens}")
    if args.act_sparsity is not None:
        if not 0.0 <= args.act_sparsity < 1.0:
            raise ConfigError(f"--act-sparsity should be in [0, 1), found {args.act_sparsity}")
        if args.calib is None:
            raise ConfigError("--act-sparsity needs --calib TEXT to calibrate its thresholds")
    if args.calib_tokens < 2:
        raise ConfigError(f"--calib-tokens should be >= 2, found {args.calib_tokens}")
    from eie.engine.kernels import check_threads
    from eie.llm.sampling import Sampler

    if args.threads is not None:
        check_threads(args.threads)
    Sampler(args.temperature, args.top_k, args.top_p, args.seed)  # checked before the load


def run(args: argparse.Namespace) -> int:
    from eie.cli.progress import progress_bar
    from eie.errors import ConfigError
    from eie.llm import modelfile

    _check(args)
    if not modelfile.is_model_file(args.model):
        if Path(args.model).exists():
            raise ConfigError(f"{args.model}: not a quantized transformer .eie file; quantize it "
                              "first: eie quantize SOURCE -o MODEL.eie")
        raise ConfigError(f"{args.model}: no such file; expected a quantized transformer .eie "
                          "file")
    with progress_bar(enabled=not args.no_progress) as bar:
        task = bar.add_task("load", total=1, info="")
        from eie.llm.calibrate import read_text
        from eie.llm.runtime import Runtime

        calib = read_text(args.calib, "calibration text") if args.calib is not None else None
        loaded = modelfile.load(args.model)
        if loaded.kind != "causal-lm":
            raise ConfigError(f"{args.model} is an encoder; generate needs a causal LM (encoders "
                              "give embeddings: eie eval --sentences)")
        result: dict[str, Any] = {"model": str(args.model)}
        limits: dict[str, float] = {}
        if args.act_sparsity:
            assert calib is not None
            limits = _thresholds(loaded, calib, args, bar)
        rt = Runtime(loaded, loaded.quantized, threads=args.threads, precision=args.precision,
                     head_dtype=args.lm_head_dtype)
        rt.set_act_sparsity(limits)
        bar.update(task, completed=1)
        gen_task = bar.add_task("generate", total=args.max_new_tokens, info="")
        g = rt.generate(args.prompt, args.max_new_tokens, temperature=args.temperature,
                        top_k=args.top_k, top_p=args.top_p, seed=args.seed,
                        stop_at_eos=not args.ignore_eos, chat=args.chat,
                        step=lambda done, total: bar.update(gen_task, completed=done))
    q = loaded.header.get("quantization", {})
    result.update({"scheme": q.get("label"), "bits_per_weight": q.get("bits_per_weight"),
                   "act_sparsity": args.act_sparsity or 0.0, "act_alloc": args.act_alloc,
                   "act_score": args.act_score, "linear_layout": rt.linear_layout,
                   "precision": args.precision, "int8_kernel": _int8_kernel(args.precision),
                   "lm_head_dtype": args.lm_head_dtype, **g.as_dict(),
                   "engine_layers": sum(1 for r in rt.layers() if r["kind"] == "engine"),
                   "dense_fallback_layers": [r["name"] for r in rt.layers()
                                             if r["kind"] != "engine"]})
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(g.text)
        b = result["breakdown_ms_per_token"]
        parts = ", ".join(f"{k} {v:.2f}" for k, v in b.items())
        print(f"-- {g.new_tokens} tokens, {g.tokens_per_s:.1f} tokens/s ({g.threads} threads; "
              f"decode {g.decode_tokens_per_s:.1f} tokens/s); ms per token: {parts}")
    return 0


def _int8_kernel(precision: str) -> bool:
    """Whether ``--precision int8`` runs the int8 kernel on this CPU (else the fp32 ones)."""
    from eie.engine.kernels import int8_runs

    return precision == "int8" and int8_runs()


def _thresholds(loaded: Any, calib: str, args: argparse.Namespace, bar: Any) -> dict[str, Any]:
    from eie.cli.eval_cmd import act_limits

    task = bar.add_task("calibrate", total=None, info="")

    def step(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    return act_limits(args, loaded, calib, [args.act_sparsity], step)[0]
