"""``eie run FILE.eie --input x.npy [-o y.npy]``: a model on the CPU engine."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = ("Run a .eie model on the fast CPU engine: input .npy in the model's own input shape, "
        "e.g. (batch, cols) or (N, C, H, W) -> output.")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", type=Path, help="a .eie model file")
    p.add_argument("--input", "-i", type=Path, required=True,
                   help=".npy inputs in the model's input shape: (cols,) or (batch, cols) for "
                        "fully-connected models, (N, C, H, W) or (N, features) for models that "
                        "reshape their input (e.g. LeNet-5); float32/float16")
    p.add_argument("--output", "-o", type=Path, default=None,
                   help="write the float32 result here (.npy); default: print it")
    p.add_argument("--threads", type=int, default=None,
                   help="threads (default: EIE_NUM_THREADS or all cores)")
    p.add_argument("--layout", choices=("auto", "sparse", "dense"), default="auto",
                   help="CPU layout for every layer (default: per-layer from its density)")
    p.add_argument("--isa", choices=("scalar", "avx2", "avx512"), default=None,
                   help="force the kernels' instruction set (default: the best available)")
    p.add_argument("--timings", action="store_true", help="print per-layer times to stderr")


def run(args: argparse.Namespace) -> int:
    from eie.cli.output_paths import check_outputs

    check_outputs(files=[args.output])  # before any work
    import numpy as np

    from eie.engine import Engine
    from eie.errors import EngineError

    if not args.input.is_file():
        raise EngineError(f"input file {args.input} does not exist; expected a .npy array")
    from eie.formats.npy_input import load_npy

    x = load_npy(args.input)  # header checked against the file's size first
    engine = Engine.load(args.file, args.layout, args.threads, args.isa)
    y = engine(x)
    if args.timings:
        for el in engine.layers:
            name = el.layer.name
            print(f"{name}: {el.kind} {engine.timings_us[name]:.1f} us", file=sys.stderr)
    if args.output is None:
        np.set_printoptions(threshold=50)
        print(y)
    else:
        np.save(args.output, y)
    return 0
