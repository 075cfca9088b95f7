"""``eie simulate``: the cycle-level EIE simulator on a model file or the paper's benchmarks."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eie.sim.config import HardwareConfig

HELP = ("Simulate the EIE accelerator cycle by cycle on a .eie model (or simulator folder) or on "
        "the paper's benchmark layers: cycles, latency, load efficiency, energy.")

# CLI flag -> HardwareConfig field (the common ones; --set reaches every field).
CONFIG_FLAGS = {
    "pes": "num_pes",
    "fifo": "fifo_depth",
    "sram_width": "spmat_sram_width_bits",
    "index_bits": "index_bits",
    "clock_mhz": "clock_mhz",
}


def add_config_arguments(p: argparse.ArgumentParser) -> None:
    """Hardware options shared by ``eie simulate`` and ``eie sweep``."""
    g = p.add_argument_group("hardware (defaults: the paper's 64-PE, 800 MHz design)")
    g.add_argument("--config", type=Path, default=None, help="YAML file of HardwareConfig fields")
    g.add_argument("--pes", type=int, default=None, help="number of PEs (num_pes)")
    g.add_argument("--fifo", type=int, default=None, help="activation FIFO depth (fifo_depth)")
    g.add_argument("--sram-width", type=int, default=None,
                   help="sparse-matrix SRAM width in bits (spmat_sram_width_bits)")
    g.add_argument("--index-bits", type=int, default=None, help="relative index bits")
    g.add_argument("--clock-mhz", type=float, default=None, help="clock frequency in MHz")
    g.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="any other HardwareConfig field, e.g. --set arith_bypass=false "
                        "(repeatable)")
    g.add_argument("--energy-table", type=Path, default=None,
                   help="energy table YAML (default: the packaged 45 nm table)")


def parse_assignment(text: str) -> tuple[str, Any]:
    import yaml

    from eie.errors import ConfigError

    if "=" not in text:
        raise ConfigError(f"expected FIELD=VALUE, found {text!r}")
    key, value = text.split("=", 1)
    return key.strip().replace("-", "_"), yaml.safe_load(value)


def build_config(args: argparse.Namespace) -> HardwareConfig:
    """The hardware from --config, the flags and --set."""
    return configure(args)[0]


def configure(args: argparse.Namespace) -> tuple[HardwareConfig, set[str]]:
    """``build_config`` and the fields the user set (flags, --set, the keys --config's file
    gave): a model file's own hardware decides the rest."""
    from eie.sim.config import HardwareConfig, read_config

    explicit: set[str] = set()
    cfg = HardwareConfig()
    if args.config:
        loaded = read_config(args.config)
        cfg, explicit = loaded.value, set(loaded.keys)
    changes: dict[str, Any] = {}
    for flag, field in CONFIG_FLAGS.items():
        v = getattr(args, flag, None)
        if v is not None:
            changes[field] = v
    for text in args.set:
        key, value = parse_assignment(text)
        changes[key] = value
    explicit |= set(changes)
    if "weight_bits" in changes and "codebook_entries" not in changes:
        changes["codebook_entries"] = 1 << int(changes["weight_bits"])  # as eie sweep does
    return (cfg.replace(**changes) if changes else cfg), explicit


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", type=Path, nargs="?", default=None,
                   help="a .eie model file or an EIE simulator folder")
    p.add_argument("--input", type=Path, default=None,
                   help="input activations (.npy, float) for FILE (default: FILE.input.npy as "
                        "written by eie convert, or the folder's act.dat)")
    p.add_argument("--benchmark", default=None, metavar="NAME|all|real",
                   help="simulate a benchmark layer of the paper (random weights and inputs at "
                        "its densities) instead of FILE; 'real' (or minilm.query, "
                        "minilm.ffn_in, minilm.ffn_out) for all-MiniLM-L6-v2's Linear layers "
                        "compressed with the paper's recipe; names may be comma-separated")
    p.add_argument("--layer", default=None, metavar="NAME",
                   help="simulate only this layer of FILE (any file, chain or not)")
    p.add_argument("--seed", type=int, default=0, help="random seed for --benchmark")
    p.add_argument("--formats", choices=("shared", "per-layer"), default="shared",
                   help="fixed-point formats: one for every layer (bit-exact with the reference "
                        "engine), or each layer's own from its data's ranges")
    add_config_arguments(p)
    p.add_argument("--json", action="store_true",
                   help="print a JSON list with one record per layer")
    p.add_argument("--output", type=Path, default=None,
                   help="also write the JSON list to this file")
    p.add_argument("--save-output", type=Path, default=None, metavar="OUT.npy",
                   help="write FILE's final output activations (float32) to this .npy file")


def simulate_benchmarks(names: list[str], config: HardwareConfig, seed: int,
                        energy_table: Path | None = None, fmt: str | None = None
                        ) -> list[dict[str, Any]]:
    """One JSON record per benchmark layer (``sim_wall_s``: simulation time, not generation)."""
    from eie.formats.benchmark_layers import make_layer
    from eie.sim import load_energy_table, simulate
    from eie.sim.real_layers import MINILM, make_real_layer

    table = load_energy_table(energy_table) if energy_table else None
    records = []
    for name in names:
        if name in MINILM:  # real weights, pruned and shared with the paper's recipe
            m, x = make_real_layer(name, num_pes=config.num_pes, seed=seed,
                                   index_bits=config.index_bits)
        else:
            m, x = make_layer(name, num_pes=config.num_pes, seed=seed,
                              index_bits=config.index_bits,
                              codebook_entries=config.codebook_entries)
        t0 = time.perf_counter()
        r = simulate(m, x, config=config, energy_table=table, name=name, fmt=fmt)
        wall = time.perf_counter() - t0
        records.append({**r.to_json(), "benchmark": name, "seed": seed,
                        "weights": "real" if name in MINILM else "random",
                        "sim_wall_s": wall})
    return records


def benchmark_names(which: str) -> list[str]:
    """``all``: the paper's nine layers; ``real``: the MiniLM layers; else comma-separated
    names of either kind."""
    from eie.errors import ConfigError
    from eie.formats.benchmark_layers import BENCHMARKS
    from eie.sim.real_layers import MINILM

    out: list[str] = []
    for n in (v.strip() for v in which.split(",")):
        if n == "all":
            out += list(BENCHMARKS)
        elif n == "real":
            out += list(MINILM)
        elif n in MINILM or n in BENCHMARKS:
            out.append(n)
        else:
            raise ConfigError(f"unknown benchmark layer {n!r}; expected 'all', 'real' or "
                              f"names from {sorted(BENCHMARKS) + sorted(MINILM)}")
    return out


def _load_file(path: Path, input_path: Path | None) -> tuple[Any, Any]:
    import numpy as np

    import eie
    from eie.cli.convert_cmd import input_path_for
    from eie.formats import eiesim

    if path.is_dir():
        matrix, bias, act = eiesim.load(path)
        model = eie.Model((eie.Layer(path.name or "layer0", matrix, bias, "relu"),),
                          source=f"EIE simulator folder {path}")
        default_input = act
    else:
        model = eie.load(path)
        default_input = None
        if input_path is None and input_path_for(path).exists():
            input_path = input_path_for(path)
    if input_path is not None:
        from eie.formats.npy_input import load_npy

        x = load_npy(input_path)  # header checked against the file's size first
    elif default_input is not None:
        x = default_input
    else:
        return model, None
    return model, np.asarray(x, np.float32)


def run(args: argparse.Namespace) -> int:
    from eie.cli.output_paths import check_outputs

    check_outputs(files=[args.output, args.save_output])  # before any work
    from eie.errors import ConfigError
    from eie.sim import load_energy_table

    config, explicit = configure(args)
    if (args.file is None) == (args.benchmark is None):
        raise ConfigError("give either a FILE (.eie or simulator folder) or --benchmark NAME|all")
    from eie.cli import simulate_llm

    if args.file is not None and simulate_llm.is_llm_file(args.file):
        if args.save_output:
            raise ConfigError("--save-output takes a chain of layers; a transformer file's "
                              "layers are simulated one by one")
        table = load_energy_table(args.energy_table) if args.energy_table else None
        records, origin, used_cfg = simulate_llm.simulate_llm_file(
            args.file, config, explicit, args.layer, args.input, table,
            "per_layer" if args.formats == "per-layer" else None)
        used = used_cfg.to_dict()
        for rec in records:
            rec["file"] = str(args.file)
            rec["hardware_from"] = {k: f"{used[k]} ({v})" for k, v in origin.items()}
        if not args.json:
            print(f"hardware: {', '.join(f'{k}={used[k]} from {v}' for k, v in origin.items())}"
                  f"; input: {records[0]['input']}")
    elif args.benchmark is not None:
        records = simulate_benchmarks(benchmark_names(args.benchmark), config, args.seed,
                                      args.energy_table,
                                      "per_layer" if args.formats == "per-layer" else None)
    else:
        from eie.cli import simulate_file as sf

        model, x = _load_file(args.file, args.input)
        if args.layer is not None and args.layer not in [ly.name for ly in model.layers]:
            raise ConfigError(f"no layer named {args.layer!r}; the file's layers are "
                              f"{[ly.name for ly in model.layers]}")
        config, origin = sf.hardware_for(model, config, explicit)
        note = "the file's input" if args.input is None else f"{args.input}"
        if x is None:
            x, note = sf.sample_input(model, None if args.layer is None or sf._chain(model)
                                      else (model.layer(args.layer).matrix.cols,))
        table = load_energy_table(args.energy_table) if args.energy_table else None
        t0 = time.perf_counter()
        run_ = sf.simulate_file(model, x, config, table, args.layer,
                                "per_layer" if args.formats == "per-layer" else None)
        wall = time.perf_counter() - t0
        records = run_.records
        used = {k: config.to_dict()[k] for k in origin}
        for rec in records:
            rec["file"] = str(args.file)
            rec["input"] = note
            rec["hardware_from"] = {k: f"{used[k]} ({v})" for k, v in origin.items()}
        records[-1]["sim_wall_s"] = wall
        if not args.json:
            print(f"hardware: {', '.join(f'{k}={used[k]} from {v}' for k, v in origin.items())}"
                  f"; input: {note}")
            for rec in records:
                if rec.get("relaid"):
                    print(f"layer {rec['name']}: re-laid out, {rec['relaid']}")
        if args.save_output:
            import numpy as np

            np.save(args.save_output, run_.output)
    if args.output:
        args.output.write_text(json.dumps(records, indent=1) + "\n")
    if args.json:
        print(json.dumps(records, indent=1))
    else:
        print_table(records)
    return 0


def print_table(records: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    cfg = records[0]["config"] if records else {}
    t = Table(title=f"EIE simulation: {cfg.get('num_pes')} PEs, FIFO {cfg.get('fifo_depth')}, "
                    f"{cfg.get('clock_mhz')} MHz")
    for col in ("layer", "shape", "cycles", "latency us", "load eff.", "PE max/mean",
                "real work", "energy uJ", "GOP/s", "dense GOP/s", "SQNR dB"):
        t.add_column(col, justify="left" if col in ("layer", "shape") else "right")
    for r in records:
        t.add_row(r["name"], "x".join(map(str, r["shape"])), f"{r['cycles']:,}",
                  f"{r['latency_us']:.2f}", f"{r['load_efficiency']:.3f}",
                  f"{r['pe_imbalance']:.3f}", f"{r['real_work_fraction']:.3f}", f"{r['energy_uj']:.3f}", f"{r['gops']:.1f}",
                  f"{r['dense_gops']:.1f}",
                  "-" if r.get("sqnr_db") is None else f"{r['sqnr_db']:.1f}")
    Console(width=120).print(t)
