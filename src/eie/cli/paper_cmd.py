"""``eie paper``: reproduce the EIE paper's evaluation in simulation and on this CPU."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = ("Reproduce the EIE paper: nine benchmark layers (simulated EIE vs this CPU), "
        "design-space figures and the power/area breakdown, as an HTML/Markdown/JSON report.")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=Path("eie-out") / "paper",
                   help="report directory (default: ./eie-out/paper); sweep results are kept "
                        "there and a re-run resumes them")
    p.add_argument("--quick", action="store_true",
                   help="fewer timing repeats, two layers and three points per sweep")
    p.add_argument("--seed", type=int, default=0, help="seed of the random benchmark layers")
    p.add_argument("--threads", type=int, default=None, help="CPU engine threads (default: all)")
    p.add_argument("--cpu-power-w", type=float, default=15.0,
                   help="assumed CPU power for the CPU energy estimate, in watts (default: 15)")
    p.add_argument("--dump", action="append", default=[], metavar="DIR",
                   help="a layer in the EIE authors' simulator format (e.g. their AlexNet fc8 "
                        "dump) to report beside the real MiniLM layers; repeatable")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def run(args: argparse.Namespace) -> int:
    from eie.cli.output_paths import check_outputs

    check_outputs(dirs=[args.out])  # before any work
    from typing import Any

    from eie.cli.progress import progress_bar
    from eie.errors import ConfigError
    from eie.experiments.paper import PaperOptions, run_paper

    if args.cpu_power_w <= 0:
        raise ConfigError(f"--cpu-power-w should be positive, found {args.cpu_power_w}")
    from eie.formats import eiesim

    for d in args.dump:  # refused before any work
        eiesim.load(d)
    opts = PaperOptions(seed=args.seed, quick=args.quick, threads=args.threads,
                        cpu_power_w=args.cpu_power_w, dumps=tuple(map(str, args.dump)),
                        command=tuple(args.command_line))
    with progress_bar(enabled=not args.no_progress) as bar:
        layers_task = bar.add_task("benchmark layers", total=9, info="")
        sweep_task = bar.add_task("design-space sweeps", total=None, info="")

        def progress(*event: Any) -> None:
            if len(event) == 1:  # a benchmark layer finished
                bar.update(layers_task, advance=1, info=str(event[0]))
            else:  # a sweep point: (finished, total, record)
                done, total, rec = event
                bar.update(sweep_task, completed=float(done), total=float(total),
                           info=str(rec.get("layer", "")) if isinstance(rec, dict) else "")

        report = run_paper(opts, args.out, progress)
    paths = report.write(args.out)
    if args.json:
        print(report.to_json())
        return 0
    from rich.console import Console
    from rich.table import Table

    console = Console()
    t = Table(title="EIE (simulated, 64 PEs) vs this CPU, batch 1")
    for c in ("layer", "EIE sim (us)", "eie CPU (us)", "numpy dense (us)", "EIE vs numpy",
              "eie CPU vs numpy", "EIE energy (uJ)"):
        t.add_column(c, justify="left" if c == "layer" else "right")
    for r in report.data["layers"]:
        t.add_row(r["name"], f"{r['eie_sim_us']:.1f}", f"{r['eie_cpu_us']:.1f}",
                  f"{r['numpy_dense_us']:.1f}", f"{r['speedup_sim_vs_numpy']:.0f}x",
                  f"{r['speedup_eie_cpu_vs_numpy']:.1f}x", f"{r['eie_sim_energy_uj']:.3f}")
    console.print(t)
    console.print(f"report: {paths['html']} (also {paths['markdown'].name}, "
                  f"{paths['json'].name})")
    return 0
