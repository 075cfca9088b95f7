"""``eie convert``: between the EIE authors' simulator layout and ``.eie`` files."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = ("Convert an EIE simulator folder to a .eie file (writes OUT.input.npy with its "
        "activations too), or a one-layer .eie file back to the simulator layout (--to eiesim).")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", type=Path, help="EIE simulator folder, or a .eie file")
    p.add_argument("dest", type=Path, help="output .eie file, or output folder with --to eiesim")
    p.add_argument("--to", choices=("eie", "eiesim"), default=None,
                   help="output kind (default: eie for a folder source, eiesim for a file)")
    p.add_argument("--layer", default=None, help="layer to export with --to eiesim (default: "
                   "the only one)")
    p.add_argument("--input", type=Path, default=None,
                   help="activations (.npy) for --to eiesim (default: SOURCE.input.npy if "
                        "present, else zeros)")
    p.add_argument("--quantize-bias", action="store_true",
                   help="with --to eiesim: replace each bias value by its nearest codebook "
                        "entry (the layout stores the bias as one more column of codes); the "
                        "largest error is reported")
    p.add_argument("--rows", type=int, default=None,
                   help="rows of the layer when importing (default: inferred from the data)")


def input_path_for(eie_file: Path) -> Path:
    """Where ``eie convert`` puts a simulator folder's activations next to the .eie file."""
    return eie_file.with_suffix(".input.npy")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    import eie
    from eie.cli.output_paths import check_outputs
    from eie.errors import ConfigError
    from eie.formats import eiesim

    to = args.to or ("eie" if args.source.is_dir() else "eiesim")
    check_outputs(files=[args.dest] if to == "eie" else [], dirs=[] if to == "eie" else [args.dest])
    if to == "eie":
        if not args.source.is_dir():
            raise ConfigError(f"{args.source} should be an EIE simulator folder (with ptr/, spm/, "
                              "arithm.dat, act.dat) to convert to .eie")
        matrix, bias, act = eiesim.load(args.source, rows=args.rows)
        model = eie.Model((eie.Layer(args.source.name or "layer0", matrix, bias, "relu"),),
                          source=f"EIE simulator folder {args.source.name}")
        eie.save(args.dest, model)
        inp = input_path_for(args.dest)
        np.save(inp, act)
        print(f"wrote {args.dest} ({matrix.rows}x{matrix.cols}, {matrix.num_pes} PEs, "
              f"{matrix.nnz:,} nonzeros) and its input activations to {inp}")
        return 0
    model = eie.load(args.source)
    if args.layer is None and len(model.layers) != 1:
        raise ConfigError(f"{args.source} has {len(model.layers)} layers; choose one with "
                          f"--layer (one of {[x.name for x in model.layers]})")
    layer = model.layers[0] if args.layer is None else model.layer(args.layer)
    inp = args.input or input_path_for(args.source)
    from eie.formats.npy_input import load_npy

    act = (load_npy(inp) if inp.exists()
           else np.zeros(layer.matrix.cols, np.float32))
    bias = layer.bias if layer.bias is not None else np.zeros(layer.matrix.rows, np.float32)
    note = ""
    if args.quantize_bias:
        bias, err = eiesim.quantize_bias(bias, layer.matrix.codebook)
        note = f"; bias quantized to the codebook, largest error {err:.6g}"
    eiesim.save(args.dest, layer.matrix, bias, act)
    print(f"wrote EIE simulator folder {args.dest} ({layer.matrix.num_pes} PEs){note}")
    return 0
