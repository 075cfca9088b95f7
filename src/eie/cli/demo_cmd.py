"""``eie demo``: the main job, end to end on bundled data."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "Run the end-to-end demo on bundled data: encode a layer, save it, inspect it, run it."


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=Path("eie-out"),
                   help="output directory (default: ./eie-out)")
    p.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    import time

    import numpy as np

    import eie
    from eie.benchmark_layers import make_layer
    from eie.cli.inspect_cmd import run as inspect_run
    from eie.engine import reference

    matrix, x = make_layer("alex8", num_pes=64, seed=args.seed)
    bias = np.zeros(matrix.rows, np.float32)
    path = eie.save(args.out / "alex8.eie", eie.Model((eie.Layer("alex8", matrix, bias, "relu"),),
                                                     source="random layer shaped like AlexNet fc8"))
    inspect_run(argparse.Namespace(file=path, json=False))
    t = time.perf_counter()
    y = reference.spmv(eie.load(path).layers[0].matrix, x, bias, "relu")
    dt = time.perf_counter() - t
    dense = np.maximum(matrix.to_dense().astype(np.float64) @ x + bias, 0)
    err = float(np.abs(y - dense).max())
    print(f"reference engine: {dt * 1e3:.1f} ms, max |error| vs dense numpy = {err:.2e}")
    return 0
