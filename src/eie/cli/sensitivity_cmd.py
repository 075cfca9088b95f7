"""``eie sensitivity``: prune one layer at a time and print (and plot) the accuracy curves."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HELP = "Per-layer pruning sensitivity scan of lenet300, lenet5 or a checkpoint (table and plot)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="bundled model (lenet300, lenet5) or a checkpoint file "
                                 "(needs --arch)")
    p.add_argument("--arch", default=None, help="architecture import path for a checkpoint")
    p.add_argument("--seed", type=int, default=0, help="seed of the bundled reference")
    p.add_argument("--densities", default=None,
                   help="comma-separated densities (default: 1 .7 .5 .3 .2 .1 .07 .05 .03 .02 .01)")
    p.add_argument("--max-drop", type=float, default=0.5,
                   help="accuracy drop in points allowed when suggesting densities (default 0.5)")
    p.add_argument("--plot", type=Path, default=Path("sensitivity.png"),
                   help="where to save the plot (default: ./sensitivity.png)")
    p.add_argument("--json", action="store_true", help="print the curves as JSON")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def run(args: argparse.Namespace) -> int:
    from eie.cli.output_paths import check_outputs

    check_outputs(files=[args.plot])  # before any work
    from rich.console import Console
    from rich.table import Table

    from eie.cli.progress import progress_bar
    from eie.compress import sensitivity
    from eie.compress.data import mnist_split
    from eie.compress.models import MODELS, compressible_layers, from_checkpoint
    from eie.compress.train import make_eval_fn, set_threads, train_reference
    from eie.errors import ConfigError

    set_threads()
    if args.model in MODELS:
        model = train_reference(args.model, args.seed)
    elif args.arch:
        model = from_checkpoint(args.model, args.arch)
    else:
        raise ConfigError(f"{args.model} is not a bundled model ({sorted(MODELS)}); give "
                          "--arch for a checkpoint")
    try:
        densities = tuple(float(d) for d in args.densities.split(",")) if args.densities \
            else sensitivity.DEFAULT_DENSITIES
    except ValueError:
        raise ConfigError(f"--densities should be numbers separated by commas, found "
                          f"{args.densities!r}") from None
    eval_fn = make_eval_fn(mnist_split())
    n_layers = len(compressible_layers(model))
    with progress_bar(enabled=not args.no_progress) as bar:
        task = bar.add_task("sensitivity", total=n_layers * len(densities), info="")

        def progress(layer: str, density: float, acc: float) -> None:
            bar.update(task, advance=1, description=f"layer {layer}",
                       info=f"density {density:.2f}: {100 * acc:.2f}%")

        result = sensitivity.scan(model, eval_fn, densities, progress=progress)
    from eie.report.sensitivity import plot_sensitivity

    plot = plot_sensitivity(result, args.plot) if args.plot else None
    picks = sensitivity.pick_densities(result, args.max_drop / 100)
    if args.json:
        out = result.to_json()
        out["suggested_densities"] = picks
        out["plot"] = str(plot) if plot else None
        print(json.dumps(out, indent=1))
        return 0
    t = Table(title=f"accuracy % with one layer pruned (dense: "
                    f"{100 * result.reference_accuracy:.2f}%)")
    t.add_column("density")
    names = list(result.curves)
    for name in names:
        t.add_column(name, justify="right")
    for i, d in enumerate(densities):
        t.add_row(f"{d:g}", *(f"{100 * result.curves[n][i][1]:.2f}" for n in names))
    t.add_row(f"suggested (drop <= {args.max_drop:g})", *(f"{picks[n]:g}" for n in names))
    console = Console()
    console.print(t)
    if plot:
        console.print(f"plot: {plot}")
    return 0
