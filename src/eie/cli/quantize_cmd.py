"""``eie quantize``: post-training quantization of a transformer's Linear layers into one .eie."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

HELP = ("quantize a transformer's Linear layers (HF directory or .gguf) with learned codebooks "
        "or a baseline scheme, saved as one .eie file")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", help="Hugging Face model directory (config.json + safetensors + "
                                  "tokenizer; BERT-family or Llama-family) or a .gguf file")
    p.add_argument("-o", "--output", type=Path, required=True, help="output .eie file")
    add_spec_arguments(p)
    p.add_argument("--quantize-lm-head", action="store_true",
                   help="quantize the LM head too, like the other Linear layers (a head tied to "
                        "the input embedding is untied: the embedding stays float32); by "
                        "default the head is kept in float32")
    p.add_argument("--threads", type=int, default=0, help="k-means threads (0: all cores)")
    p.add_argument("--json", action="store_true", help="print one JSON object with the results")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def add_spec_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scheme", default="codebook",
                   choices=["codebook", "int4", "int3", "int", "nf4", "iq4nl", "fp16", "bf16"],
                   help="codebook: learned per-row/per-group codebooks (exact weighted k-means); "
                        "int4/int3: asymmetric linear RTN; nf4, iq4nl: fixed non-linear tables; "
                        "fp16/bf16 (default: codebook)")
    p.add_argument("--bits", type=int, default=None,
                   help="code bits, 2..8 (codebook default 4; int: as in int4/int3)")
    p.add_argument("--codebook", default="row",
                   help="codebook granularity: row (one per output row), group:N (N rows share "
                        "one), cols:N (one per N input columns of a row), tensor (one per layer)")
    p.add_argument("--group", type=int, default=None,
                   help="input columns per scale for int/nf4/iq4nl (default 128/64/32)")
    p.add_argument("--weighting", default=None, choices=["none", "act", "fisher"],
                   help="importance of each weight in the k-means: E[x^2] of its input channel "
                        "(act, default for codebook), diagonal Fisher (fisher), none")
    p.add_argument("--calib", type=Path, default=None,
                   help="calibration text file (UTF-8): needed by act/fisher weighting and wanda")
    p.add_argument("--calib-tokens", type=int, default=4096,
                   help="calibration tokens used at most (default 4096)")
    p.add_argument("--context", type=int, default=512, help="tokens per window (default 512)")
    p.add_argument("--prune", default=None,
                   help="prune before the codebook: a fraction (0.5, per row) or N:M (N kept of "
                        "every M consecutive input weights)")
    p.add_argument("--prune-method", default="magnitude", choices=["magnitude", "wanda"],
                   help="pruning score: |W| or |W| * ||x|| (wanda, needs --calib)")
    p.add_argument("--refine", action="store_true",
                   help="refine codebook centroids by least squares on the calibration inputs' "
                        "E[x x^T] (output error, not weight error; needs --calib; slow for wide "
                        "layers)")
    p.add_argument("--override", action="append", default=[], metavar="PATTERN=SPEC",
                   help="per-layer override, first match wins: 'PATTERN=keep' (leave in float32) "
                        "or 'PATTERN=bits:3,codebook:group:8' (keys scheme, bits, codebook, "
                        "group, weighting, refine); PATTERN is a glob over Linear names")


def spec_from_args(args: argparse.Namespace) -> Any:
    from eie.errors import ConfigError
    from eie.llm.prune import parse_prune
    from eie.llm.quantize import QuantSpec

    scheme = args.scheme
    if args.bits is not None and scheme in ("int4", "int3"):
        if args.bits != int(scheme[3]):
            raise ConfigError(f"--scheme {scheme} has {scheme[3]} bits, found --bits {args.bits}")
    bits = args.bits if args.bits is not None else (int(scheme[3]) if scheme in ("int4", "int3")
                                                    else 4)
    if scheme in ("nf4", "iq4nl") and bits != 4:
        raise ConfigError(f"--scheme {scheme} is 4-bit, found --bits {bits}")
    weighting = args.weighting or ("act" if scheme == "codebook" else "none")
    if scheme in ("codebook", "iq4nl") and weighting != "none" and args.calib is None:
        raise ConfigError(f"--weighting {weighting} needs --calib TEXT (a calibration text file); "
                          "or give --weighting none")
    prune = parse_prune(args.prune) if args.prune is not None else None
    if args.refine and args.calib is None:
        raise ConfigError("--refine needs --calib TEXT (a calibration text file)")
    return QuantSpec(scheme=scheme if scheme not in ("int4", "int3") else "int", bits=bits,
                     codebook=args.codebook, group=args.group, weighting=weighting, prune=prune,
                     prune_method=args.prune_method, refine=args.refine)


def run(args: argparse.Namespace) -> int:
    from eie.cli.progress import progress_bar
    from eie.llm import modelfile
    from eie.llm.calibrate import read_text
    from eie.llm.quantize import parse_overrides, quantize_model
    from eie.llm.sources import load_source

    spec = spec_from_args(args)
    overrides = parse_overrides(args.override, spec)
    calib = read_text(args.calib, "calibration text") if args.calib is not None else None
    with progress_bar(enabled=not args.no_progress) as bar:
        task = bar.add_task("load", total=None, info=str(args.source))
        t0 = time.perf_counter()
        loaded = load_source(args.source)
        load_s = time.perf_counter() - t0
        bar.update(task, total=1, completed=1, info="")
        tasks: dict[str, Any] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total, info="")
            bar.update(tasks[stage], completed=done)

        qm = quantize_model(loaded, spec, calib, overrides=overrides, context=args.context,
                            calib_tokens=args.calib_tokens, threads=args.threads,
                            progress=progress, lm_head=args.quantize_lm_head)
        task = bar.add_task("save", total=None, info=str(args.output))
        path = modelfile.save(args.output, qm)
        bar.update(task, total=1, completed=1, info="")
    r = qm.report
    result = {
        "output": str(path), "source": str(args.source), "kind": loaded.kind,
        "scheme": r["label"], "bits_per_weight": r["bits_per_weight"],
        "linear_weights": r["linear_weights"], "quantized_layers": r["quantized_layers"],
        "file_bytes": path.stat().st_size, "load_seconds": load_s,
        "calibration_seconds": r["calibration_seconds"],
        "quantize_seconds": r["quantize_seconds"],
        "quantize_cpu_seconds": r["quantize_cpu_seconds"],
        "calibration_tokens": r["calibration_tokens"], "layers": r["layers"],
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        errs = [v["rel_error"] for v in r["layers"].values() if "rel_error" in v]
        print(f"{path}: {r['label']}, {r['bits_per_weight']:.3f} bits/weight over "
              f"{r['linear_weights']:,} Linear weights ({r['quantized_layers']} layers; "
              f"embeddings and norms kept)")
        print(f"  relative weight error: mean {sum(errs) / max(len(errs), 1):.4g}, max "
              f"{max(errs, default=0):.4g}; quantize {r['quantize_seconds']:.1f} s, calibrate "
              f"{r['calibration_seconds']:.1f} s ({r['calibration_tokens']} tokens)")
    return 0
