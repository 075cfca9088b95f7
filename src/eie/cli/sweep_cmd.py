"""``eie sweep``: design-space sweeps of the simulator over config fields, with the paper's plots."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

HELP = ("Sweep hardware config fields (PEs, FIFO depth, SRAM width, index/codebook bits, ...) "
        "over the benchmark layers in parallel; results go to a resumable JSONL file, plus plots.")


def add_arguments(p: argparse.ArgumentParser) -> None:
    from eie.cli.simulate_cmd import add_config_arguments

    p.add_argument("--vary", action="append", default=[], metavar="FIELD=V1,V2,...",
                   help="a HardwareConfig field and its values, e.g. --vary fifo_depth=1,2,4,8 "
                        "(repeatable: the grid is the product)")
    p.add_argument("--preset", action="append", default=[],
                   choices=("fifo", "pes", "sram", "index", "codebook"),
                   help="one of the paper's studies: fifo (1..256), pes (1..256), sram "
                        "(32..512 bits), index (2..8 bits), codebook (2..8 bits); repeatable, "
                        "each runs as its own sweep")
    p.add_argument("--benchmark", default="all", metavar="NAME[,NAME]|all",
                   help="benchmark layers to simulate (default: all nine)")
    p.add_argument("--seeds", default="0", help="comma-separated random seeds (default: 0)")
    p.add_argument("--out", type=Path, default=Path("sweep.jsonl"),
                   help="JSONL results file; finished points in it are skipped (default: "
                        "sweep.jsonl)")
    p.add_argument("--plots", type=Path, default=None, metavar="DIR",
                   help="write the paper's figures (PNG) for the swept fields to DIR")
    p.add_argument("--workers", type=int, default=None,
                   help="worker processes (default: the local core count)")
    p.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                   help="run the points on this Dask distributed scheduler (needs eie[dask])")
    p.add_argument("--dask-workers", type=int, default=None, metavar="N",
                   help="start a local Dask cluster of N worker processes and run on it")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_config_arguments(p)


def parse_axes(texts: list[str]) -> dict[str, list[Any]]:
    import yaml

    from eie.errors import ConfigError

    axes: dict[str, list[Any]] = {}
    for text in texts:
        if "=" not in text:
            raise ConfigError(f"--vary expects FIELD=V1,V2,..., found {text!r}")
        key, values = text.split("=", 1)
        vals = [yaml.safe_load(v) for v in values.split(",") if v.strip()]
        if not vals:
            raise ConfigError(f"--vary {key}: no values")
        axes[key.strip().replace("-", "_")] = vals
    return axes


def run(args: argparse.Namespace) -> int:
    from eie.cli.output_paths import check_outputs

    check_outputs(files=[args.out], dirs=[args.plots])  # before any work
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from eie.cli.simulate_cmd import benchmark_names, build_config
    from eie.errors import ConfigError
    from eie.report.sim_figures import paper_figures
    from eie.sim.sweep import PRESETS, sweep

    base = build_config(args)
    sweeps = [PRESETS[name] for name in args.preset]
    if args.vary:
        sweeps.append(parse_axes(args.vary))
    if not sweeps:
        raise ConfigError("nothing to sweep: give --vary FIELD=V1,V2,... or --preset NAME")
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        raise ConfigError(f"--seeds should be integers separated by commas, found "
                          f"{args.seeds!r}") from None
    layers = benchmark_names(args.benchmark)
    if args.energy_table:
        raise ConfigError("--energy-table is not supported by sweep; price the JSONL counts "
                          "afterwards with eie.sim.energy")
    console = Console(stderr=True)
    records = []
    for axes in sweeps:
        label = ", ".join(axes)
        with Progress("[progress.description]{task.description}", BarColumn(),
                      MofNCompleteColumn(), TimeElapsedColumn(), console=console,
                      disable=args.quiet) as bar:
            task = bar.add_task(f"sweep {label}", total=None)

            def tick(done: int, total: int, rec: dict[str, Any], task: Any = task,
                     bar: Progress = bar) -> None:
                bar.update(task, completed=done, total=total)

            records += sweep(axes, layers, args.out, base=base, seeds=seeds,
                             workers=args.workers, progress=tick,
                             scheduler=args.scheduler, dask_workers=args.dask_workers)
    print(f"{len(records)} points in {args.out}")
    if args.plots:
        for path in paper_figures(records, args.plots):
            print(f"wrote {path}")
    return 0
