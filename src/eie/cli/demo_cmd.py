"""``eie demo``: the main job, end to end on bundled data (see eie.experiments.demo)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HELP = ("Train LeNet-300-100 on bundled MNIST digits, compress it, run it three ways, time it, "
        "simulate it on the 64-PE EIE, quantize a transformer (all-MiniLM-L6-v2) with learned "
        "codebooks and int4 and run it on the engine, and write a report.")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=Path("eie-out") / "demo",
                   help="output directory for the .eie file and the report "
                        "(default: ./eie-out/demo)")
    p.add_argument("--quick", action="store_true",
                   help="smaller training budget (fewer epochs, one prune round)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads for the engine and the baselines (default: all cores)")
    p.add_argument("--cache-dir", type=Path, default=None,
                   help="cache of the trained reference model (default: $EIE_CACHE_DIR or "
                        "~/.cache/eie)")
    p.add_argument("--no-transformer", action="store_true",
                   help="leave out the transformer part (all-MiniLM-L6-v2, about a minute)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def run(args: argparse.Namespace) -> int:
    from eie.cli.output_paths import check_outputs

    check_outputs(dirs=[args.out])  # before any work
    from typing import Any

    from eie.cli.progress import progress_bar
    from eie.experiments.demo import DemoOptions, run_demo

    opts = DemoOptions(out_dir=args.out, seed=args.seed, quick=args.quick, threads=args.threads,
                       cache_dir=args.cache_dir, command=tuple(args.command_line),
                       transformer=not args.no_transformer)
    with progress_bar(enabled=not args.no_progress) as bar:
        tasks: dict[str, Any] = {}

        def finish_all() -> None:
            for t in tasks.values():
                total = bar.tasks[t].total
                bar.update(t, total=total or 1, completed=total or 1)

        def progress(kind: str, info: dict[str, Any]) -> None:
            if kind == "step":
                finish_all()
                tasks[info["message"]] = bar.add_task(info["message"], total=None, info="")
            elif kind == "train":
                if "train" not in tasks:
                    tasks["train"] = bar.add_task("  reference epochs", total=info["epochs"],
                                                  info="")
                bar.update(tasks["train"], completed=info["epoch"],
                           info=f"loss {info['loss']:.4f}")
            elif kind == "compress":
                ev = info["event"]
                key = f"stage:{ev.stage}"
                if key not in tasks:
                    tasks[key] = bar.add_task(f"  stage {ev.stage_index + 1}/{ev.num_stages}: "
                                              f"{ev.stage} (epochs)", total=None, info="")
                if ev.epoch is not None:
                    bar.update(tasks[key], advance=1,
                               info=f"loss {ev.loss:.4f}" if ev.loss is not None else "")
                elif ev.message and ev.message != "start":
                    bar.update(tasks[key], info=ev.message)

        report, summary = run_demo(opts, progress)
        finish_all()
    paths = report.write(args.out)
    summary["report"] = str(paths["html"])
    if args.json:
        print(json.dumps(summary, indent=2, default=float))
        return 0
    from rich.console import Console
    from rich.table import Table

    a, cpu, sim = summary["accuracy"], summary["cpu_us_per_image"], summary["simulated"]
    t = Table(title="eie demo: LeNet-300-100 on MNIST")
    t.add_column("what")
    t.add_column("value", justify="right")
    t.add_row("compression (with / without Huffman)",
              f"{summary['compression_ratio']:.1f}x / {summary['compression_ratio_no_huffman']:.1f}x")
    t.add_row("weight density", f"{100 * summary['density']:.1f}%")
    t.add_row("accuracy: uncompressed", f"{100 * a['reference_uncompressed']:.2f}%")
    t.add_row("accuracy: torch / reference engine / fast engine",
              f"{100 * a['torch_compressed']:.2f}% / {100 * a['reference_engine']:.2f}% / "
              f"{100 * a['fast_engine']:.2f}%")
    t.add_row("one image: eie engine / torch dense / numpy dense",
              f"{cpu['eie_engine']:.1f} / {cpu['torch_dense']:.1f} / {cpu['numpy_dense']:.1f} us")
    t.add_row(f"EIE simulated ({sim['num_pes']} PEs): latency / energy",
              f"{sim['latency_us']:.2f} us / {sim['energy_pj'] * 1e-3:.1f} nJ")
    t.add_row("EIE simulated: load efficiency", f"{100 * sim['load_efficiency']:.1f}%")
    tr = summary["transformer"]
    if "skipped" in tr:
        t.add_row("transformer (all-MiniLM-L6-v2)", f"skipped: {tr['skipped']}")
    else:
        for sch in tr["schemes"]:
            t.add_row(f"MiniLM {sch['label']}: bits/weight, embedding cosine vs fp32",
                      f"{sch['bits_per_weight']:.3f} / {sch['cosine_mean']:.4f}")
        w = tr["speed"]["linears_wall_us"]
        t.add_row("MiniLM Linear layers, one token: torch fp32 / " + " / ".join(
            f"eie {k}" for k in list(w)[1:]),
            " / ".join(f"{v:.0f}" for v in w.values()) + " us")
    console = Console()
    console.print(t)
    console.print(f"model: {summary['eie_file']}  report: {paths['html']}")
    return 0
