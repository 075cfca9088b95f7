"""``eie eval``: quality of a transformer (perplexity or embedding cosine), optionally with
activation sparsity, or of several quantization schemes side by side."""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path
from typing import Any

HELP = ("perplexity of a causal LM on a text, or embedding cosine of an encoder against a "
        "reference; compares quantization schemes side by side (torch, dequantized weights)")

EVALUATED_WITH = "torch, with the dequantized weights (not the engine's kernels)"
EVALUATED_ON_ENGINE = ("eie's kernels (every quantized Linear; the rest numpy/torch, "
                       "eie.llm.runtime)")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="a quantized .eie transformer file or a SOURCE (Hugging Face "
                                 "directory or .gguf)")
    p.add_argument("--text", type=Path, default=None,
                   help="text file (UTF-8) for perplexity (causal LMs)")
    p.add_argument("--context", type=int, default=512, help="tokens per window (default 512)")
    p.add_argument("--max-tokens", type=int, default=None,
                   help="evaluate at most this many tokens of --text")
    p.add_argument("--reference", default=None,
                   help="SOURCE whose embeddings the encoder's are compared with")
    p.add_argument("--sentences", type=Path, default=None,
                   help="file with one sentence per line (encoders)")
    p.add_argument("--act-sparsity", type=float, nargs="+", default=None, metavar="S",
                   help="zero each Linear input entry below its layer's threshold for a target "
                        "sparsity S (e.g. 0 0.25 0.4 0.5), calibrated on --calib")
    add_act_arguments(p)
    p.add_argument("--compare", nargs="+", default=None, metavar="SPEC",
                   help="quantize MODEL (a SOURCE) with each SPEC and evaluate them side by "
                        "side, e.g. codebook codebook:bits=3 int4:group=128 nf4 iq4nl "
                        "(keys: bits, codebook, group, weighting, prune, prune_method, refine)")
    p.add_argument("--override", action="append", default=[], metavar="PATTERN=SPEC",
                   help="per-layer override applied to every --compare spec (as in eie "
                        "quantize), e.g. '*.query=codebook:group:2'")
    p.add_argument("--calib", type=Path, default=None,
                   help="calibration text for --act-sparsity and for --compare's weighting")
    p.add_argument("--calib-tokens", type=int, default=4096,
                   help="calibration tokens used at most (default 4096)")
    p.add_argument("--threads", type=int, default=0, help="k-means threads (0: all cores)")
    p.add_argument("--engine", action="store_true",
                   help="run every quantized Linear on eie's kernels (the path of eie generate) "
                        "instead of torch with the dequantized weights; --threads sets its "
                        "threads")
    add_precision_argument(p)
    p.add_argument("--json", action="store_true", help="print one JSON object with the results")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def add_precision_argument(p: argparse.ArgumentParser) -> None:
    """``--precision`` of the engine's Linear layers (shared with ``generate`` and
    ``bench-llm``)."""
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "int8"],
                   help="products of the engine's Linear layers: fp32 (default, exact inputs), "
                        "int8 (opt-in W4A8: each input rounded to int8 per 128 columns and each "
                        "codebook to int8, integer dot products; with the avx512 ISA where "
                        "the CPU has VNNI, or avx2; else fp32) or bf16 (batches on AMX tiles where present)")
    p.add_argument("--lm-head-dtype", default="float32", choices=["float32", "float16"],
                   help="an LM head the file keeps unquantized: float32 (default, the stored "
                        "values) on torch's GEMV, or float16 (opt-in: rounded once, half the "
                        "bytes per token) on the engine's float16 GEMV")


def add_act_arguments(p: argparse.ArgumentParser) -> None:
    """The activation-sparsity options shared with ``eie generate``."""
    p.add_argument("--act-alloc", default="uniform", choices=["uniform", "block", "model"],
                   help="how --act-sparsity is spread over the Linear inputs: the same fraction "
                        "everywhere (uniform, default), or allocated per input from block-error "
                        "profiles for that weighted average, within each block (block) or over "
                        "the model (model)")
    p.add_argument("--act-score", default="abs", choices=["abs", "wina"],
                   help="which entries are zeroed: smallest |x| (abs, default) or smallest "
                        "|x_j| * ||W[:, j]|| (wina)")
    p.add_argument("--act-profile-tokens", type=int, default=256,
                   help="calibration tokens of the allocation profile (default 256)")
    p.add_argument("--act-profile", type=Path, default=None, metavar="FILE",
                   help="the allocation profile's file: read when it exists (its score must "
                        "be --act-score's), else measured on --calib and written there")


def act_limits(args: argparse.Namespace, loaded: Any, calib: str, levels: list[float],
               step: Any = None) -> list[dict[str, Any]]:
    """Thresholds for each level of ``levels`` by the --act-* options (one calibration)."""
    from eie.llm import actalloc, actsparsity
    from eie.llm.calibrate import calibrate

    for s in levels:
        actalloc.check_target(s)
    if args.act_alloc == "uniform" and args.act_score == "abs":
        cal = calibrate(loaded, calib, context=512, max_tokens=args.calib_tokens, samples=True)
        return [actsparsity.thresholds(cal.abs_samples, s) for s in levels]
    if args.act_profile_tokens < 2:
        raise_config(f"--act-profile-tokens should be >= 2, found {args.act_profile_tokens}")
    return [p.limits(s, args.act_alloc) for s in levels] if (p := act_profile(
        args, loaded, calib, step)) is not None else []


def act_profile(args: argparse.Namespace, loaded: Any, calib: str, step: Any = None) -> Any:
    """The allocation profile by --act-profile / --act-score / --act-profile-tokens."""
    from eie.llm import actalloc

    path = getattr(args, "act_profile", None)
    if path is not None and Path(path).exists():
        prof = actalloc.load_profile(path)
        if prof.score != args.act_score:
            raise_config(f"{path}: a profile of score {prof.score!r}, found --act-score "
                         f"{args.act_score}")
        return prof
    prof = actalloc.profile(loaded, calib, score=args.act_score,
                            max_tokens=args.act_profile_tokens, step=step)
    if path is not None:
        prof.save(path)
    return prof


def raise_config(message: str) -> None:
    from eie.errors import ConfigError

    raise ConfigError(message)


def _check_args(args: argparse.Namespace, kind: str) -> None:
    from eie.errors import ConfigError

    if kind == "causal-lm":
        if args.text is None:
            raise ConfigError(f"{args.model} is a causal LM: give --text FILE for perplexity")
        if args.sentences is not None or args.reference is not None:
            raise ConfigError("--reference/--sentences are for encoders; this is a causal LM")
    else:
        if args.sentences is None:
            raise ConfigError(f"{args.model} is an encoder: give --sentences FILE (and "
                              "--reference SOURCE unless --compare is used)")
        if args.reference is None and args.compare is None:
            raise ConfigError("an encoder is evaluated against a reference: give --reference "
                              "SOURCE (or --compare SPEC ...)")
        if args.act_sparsity is not None:
            raise ConfigError("--act-sparsity is measured by perplexity: causal LMs only")
    if args.act_sparsity is not None and args.calib is None:
        raise ConfigError("--act-sparsity needs --calib TEXT to calibrate its thresholds")
    if args.act_sparsity is not None and args.compare is not None:
        raise ConfigError("--act-sparsity and --compare are separate runs; give one of them")
    if not args.engine and (args.precision != "fp32" or args.lm_head_dtype != "float32"):
        raise ConfigError("--precision and --lm-head-dtype choose how eie's kernels run: add "
                          "--engine (without it torch evaluates the dequantized weights)")


def run(args: argparse.Namespace) -> int:
    from eie.cli.progress import progress_bar
    from eie.errors import ConfigError
    from eie.llm import modelfile
    from eie.llm.calibrate import read_text, sentences_of
    from eie.llm.quantize import parse_spec

    specs = [parse_spec(s) for s in args.compare] if args.compare else []
    with progress_bar(enabled=not args.no_progress) as bar:
        tasks: dict[str, Any] = {}

        def step(stage: str) -> Any:
            def fn(done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = bar.add_task(stage, total=total, info="")
                bar.update(tasks[stage], completed=done, total=total)
            return fn

        step("load")(0, 1)
        is_file = modelfile.is_model_file(args.model)
        if specs and is_file:
            raise ConfigError("--compare quantizes MODEL: give a SOURCE (HF directory or .gguf), "
                              "not a quantized .eie file")
        loaded = modelfile.open_model(args.model)
        step("load")(1, 1)
        _check_args(args, loaded.kind)
        result: dict[str, Any] = {"model": str(args.model), "kind": loaded.kind,
                                  "evaluated_with": EVALUATED_WITH}
        if args.engine and not is_file and not specs:
            raise ConfigError("--engine runs quantized layers: give a quantized .eie file, or "
                              "--compare SPEC ... to quantize MODEL first")
        if args.engine:
            result["evaluated_with"] = EVALUATED_ON_ENGINE
            if is_file:
                loaded.runtime = _runtime(args, loaded, loaded.quantized)
        if is_file:
            q = loaded.header.get("quantization", {})
            result["scheme"] = q.get("label")
            result["bits_per_weight"] = q.get("bits_per_weight")
        calib = read_text(args.calib, "calibration text") if args.calib else None
        if loaded.kind == "causal-lm":
            text = read_text(args.text, "text")
            _causal(args, loaded, text, calib, specs, result, step)
        else:
            sents = sentences_of(read_text(args.sentences, "sentences"))
            _encoder(args, loaded, sents, calib, specs, result, step)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        _print(result)
    return 0


def _runtime(args: argparse.Namespace, loaded: Any, quantized: Any) -> Any:
    from eie.llm.runtime import Runtime

    return Runtime(loaded, quantized, threads=args.threads or None, precision=args.precision,
                   head_dtype=args.lm_head_dtype)


def _evaluate(loaded: Any, args: argparse.Namespace, text: str, step: Any, name: str
              ) -> dict[str, Any]:
    from eie.llm.evaluate import perplexity

    rt = getattr(loaded, "runtime", None)
    if rt is not None:
        return rt.perplexity(text, args.context, args.max_tokens, step(name))  # type: ignore[no-any-return]
    return perplexity(loaded, text, args.context, args.max_tokens, step(name))


def _embeddings(loaded: Any, sents: list[str], step: Any) -> Any:
    from eie.llm.evaluate import embeddings

    rt = getattr(loaded, "runtime", None)
    return embeddings(loaded, sents, step=step) if rt is None else rt.embed(sents, step=step)


def _causal(args: argparse.Namespace, loaded: Any, text: str, calib: str | None,
            specs: list[Any], result: dict[str, Any], step: Any) -> None:
    from eie.llm import actsparsity

    if args.act_sparsity is not None:
        assert calib is not None
        from eie.llm.actalloc import weighted_realised
        from eie.llm.calibrate import linear_modules

        all_limits = act_limits(args, loaded, calib, list(args.act_sparsity), step("profile"))
        rows_of = {n: m.weight.shape[0] for n, m in linear_modules(loaded.model).items()}
        rows = []
        for s, limits in zip(args.act_sparsity, all_limits, strict=True):
            rt = getattr(loaded, "runtime", None)
            if rt is not None:  # thresholds applied by the engine runtime itself
                rt.set_act_sparsity(limits)
                r = _evaluate(loaded, args, text, step, f"sparsity {s:g}")
                rows.append({"target": s, "realised": None, "realised_work": None,
                             "perplexity": r["perplexity"]})
                continue
            with actsparsity.sparse_activations(loaded.model, limits) as counts:
                r = _evaluate(loaded, args, text, step, f"sparsity {s:g}")
            rows.append({"target": s, "realised": actsparsity.realised(counts),
                         "realised_work": weighted_realised(counts, rows_of),
                         "perplexity": r["perplexity"]})
        result["act_alloc"], result["act_score"] = args.act_alloc, args.act_score
        base = rows[0]["perplexity"]
        for r in rows:
            r["vs_first"] = r["perplexity"] / base
        result["act_sparsity"] = rows
        result["tokens"] = r_tokens(loaded, args, text)
        return
    ref = _evaluate(loaded, args, text, step, "reference" if specs else "perplexity")
    result.update(ref)
    if specs:
        result["compare"] = _compare(args, loaded, text, calib, specs, step,
                                     lambda m: _evaluate(m, args, text, step, "eval"),
                                     "perplexity", ref["perplexity"])


def r_tokens(loaded: Any, args: argparse.Namespace, text: str) -> int:
    from eie.llm.calibrate import token_windows

    return sum(len(w) for w in token_windows(loaded.tokenizer, text, args.context,
                                             args.max_tokens))


def _encoder(args: argparse.Namespace, loaded: Any, sents: list[str], calib: str | None,
             specs: list[Any], result: dict[str, Any], step: Any) -> None:
    from eie.llm.evaluate import cosine, embeddings
    from eie.llm.sources import load_source

    if args.reference is not None:
        reference = load_source(args.reference)
        ref_emb = embeddings(reference, sents, step=step("reference"))
        result["reference"] = str(args.reference)
        result.update(cosine(ref_emb, _embeddings(loaded, sents, step("model"))))
    else:
        ref_emb = embeddings(loaded, sents, step=step("reference"))
        result["reference"] = str(args.model)
        result["sentences"] = len(sents)
    if specs:
        result["compare"] = _compare(
            args, loaded, "\n".join(sents), calib, specs, step,
            lambda m: cosine(ref_emb, _embeddings(m, sents, step("eval"))), "cosine_mean",
            None)


def _compare(args: argparse.Namespace, loaded: Any, text: str, calib: str | None,
             specs: list[Any], step: Any, evaluate: Any, metric: str,
             reference: float | None) -> list[dict[str, Any]]:
    from eie.errors import ConfigError
    from eie.llm.calibrate import calibrate
    from eie.llm.quantize import parse_overrides, quantize_model

    overrides = [parse_overrides(args.override, spec) for spec in specs]
    cal = None
    cal_s = 0.0
    if any(s.needs_calibration for s in specs):
        if calib is None:
            raise ConfigError("a compared scheme weights by calibration statistics: give --calib "
                              "TEXT (or weighting=none in the spec)")
        t0 = time.perf_counter()
        every = [s for spec_overrides in overrides for _, s in spec_overrides] + specs
        cal = calibrate(loaded, calib, max_tokens=args.calib_tokens,
                        fisher=any(s.weighting == "fisher" for s in every),
                        second_moment=any(s.refine for s in every))
        cal_s = time.perf_counter() - t0
    rows = []
    for i, spec in enumerate(specs):
        model = copy.copy(loaded)
        model.model = copy.deepcopy(loaded.model)
        qm = quantize_model(model, spec, calib, threads=args.threads, calibration=cal,
                            overrides=overrides[i])
        if args.engine:
            model.runtime = _runtime(args, model, qm.layers)
        r = evaluate(model)
        row = {"spec": args.compare[i], "label": spec.label(), "overrides": args.override,
               "bits_per_weight": qm.bits_per_weight, metric: r[metric],
               "quantize_seconds": qm.report["quantize_seconds"],
               "quantize_cpu_seconds": qm.report["quantize_cpu_seconds"]}
        if metric == "cosine_mean":
            row["cosine_min"] = r["cosine_min"]
        if reference is not None:
            row["vs_reference"] = r[metric] / reference
        rows.append(row)
        step("schemes")(i + 1, len(specs))
        del model
    if cal is not None:
        for row in rows:
            row["calibration_seconds"] = cal_s
    return rows


def _print(r: dict[str, Any]) -> None:
    head = f"{r['model']} ({r['kind']}; evaluated in {r['evaluated_with']})"
    if r.get("bits_per_weight") is not None:
        head += f"\n  quantized: {r.get('scheme')}, {r['bits_per_weight']:.3f} bits/weight"
    print(head)
    if "act_sparsity" in r:
        print(f"  activation sparsity: {r['act_alloc']} allocation, {r['act_score']} score; "
              "realised: entries zeroed, and Linear work skipped (weighted by rows)")
        print(f"  {'target':>7} {'realised':>9} {'work':>7} {'perplexity':>11} {'vs first':>9}")
        for row in r["act_sparsity"]:
            realised = "-" if row["realised"] is None else f"{row['realised']:.3f}"
            work = "-" if row["realised_work"] is None else f"{row['realised_work']:.3f}"
            print(f"  {row['target']:>7.2f} {realised:>9} {work:>7} {row['perplexity']:>11.3f} "
                  f"{row['vs_first']:>9.3f}")
        return
    if "perplexity" in r:
        print(f"  perplexity {r['perplexity']:.3f} over {r['predicted_tokens']} predicted tokens "
              f"({r['windows']} windows of <= {r['context']})")
    if "cosine_mean" in r:
        print(f"  cosine vs {r['reference']}: mean {r['cosine_mean']:.4f}, min "
              f"{r['cosine_min']:.4f} over {r['sentences']} sentences")
    if "compare" in r:
        metric = "perplexity" if "perplexity" in r else "cosine_mean"
        print(f"  {'scheme':<44} {'bits/w':>7} {metric:>12} {'quantize s':>10}")
        for row in r["compare"]:
            print(f"  {row['label']:<44} {row['bits_per_weight']:>7.3f} {row[metric]:>12.4f} "
                  f"{row['quantize_seconds']:>10.1f}")
