"""``eie bench``: the CPU engine against numpy, torch and scipy baselines, side by side."""

from __future__ import annotations

import argparse
import json
import sys

DEFAULT_GROUPS = "layer,sweep,dense"
HELP = ("Benchmark the CPU engine on the paper's layers, a density sweep and dense codebook "
        "layers against numpy/torch dense and scipy/torch CSR.")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=int, default=None,
                   help="threads for eie and every baseline (default: all cores)")
    p.add_argument("--json", action="store_true", help="print one JSON object (records + machine)")
    p.add_argument("--markdown", action="store_true",
                   help="also print the results as a Markdown table at the end")
    p.add_argument("--quick", action="store_true",
                   help="tiny shapes and few cases (a smoke test, seconds)")
    p.add_argument("--groups", default=DEFAULT_GROUPS,
                   help="comma-separated case groups: layer, sweep, dense, batch (2..16 inputs "
                   "per call; times per call), llm (per-row-codebook 4-bit layers on "
                   "SmolLM2-135M's shapes and larger, batch 1 and 8), lenet300 (a whole "
                   "LeNet-300-100, per image; default: layer,sweep,dense)")
    p.add_argument("--budget", type=float, default=0.3,
                   help="seconds of repeats per timing (median reported; default 0.3)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tune", action="store_true",
                   help="measure the sparse/dense crossovers on every ISA this CPU runs (one "
                   "thread) and write them to the tuning table the package reads, then exit")
    p.add_argument("--doc", default=None, metavar="PATH",
                   help="run every benchmark group (one thread unless --threads) and write the "
                   "reference document (docs/benchmarks.md) to PATH, atomically; with --quick: "
                   "tiny shapes, labelled as such")
    p.add_argument("--tune-out", default=None,
                   help="tuning table to write (default: EIE_TUNING or the package's "
                   "eie/data/tuning.json)")


def run(args: argparse.Namespace) -> int:
    from eie.bench import engine_cases as bench
    from eie.bench.machine import machine
    from eie.bench.memory import read_bandwidth_gbps
    from eie.engine import kernels
    from eie.errors import ConfigError
    from eie.report import bench_tables

    if args.tune and args.doc:
        raise ConfigError("--tune and --doc are two separate runs: give one of them")
    if args.tune:
        return _tune(args)
    if args.doc:
        return _doc(args)
    groups = tuple(g.strip() for g in args.groups.split(",") if g.strip())
    bad = sorted(set(groups) - {*bench.GROUPS, "lenet300"})
    if bad or not groups:
        raise ConfigError("--groups should name layer, sweep, dense, batch, llm and/or lenet300, "
                          f"found {args.groups!r}")
    if args.budget <= 0:
        raise ConfigError(f"--budget should be positive, found {args.budget}")
    lenet: list[dict[str, object]] = []
    if "lenet300" in groups:
        from eie.bench import lenet300 as bench_lenet

        kernels.check_threads(args.threads)
        for bits in ((4, 4, 4), bench_lenet.DEEP_COMPRESSION_BITS):
            res = bench_lenet.run_lenet300(args.threads, 0.2 if args.quick else 3 * args.budget,
                                           args.seed, bits)
            lenet.append(res)
            if not args.json:
                print(bench_tables.lenet300_line(res))
        groups = tuple(g for g in groups if g != "lenet300")
        if not groups:
            if args.json:
                print(json.dumps({"lenet300": lenet}, indent=1))
            return 0
    threads = args.threads if args.threads is not None else kernels.default_threads()
    kernels.check_threads(threads)
    read_gbps = read_bandwidth_gbps(threads, 32 if args.quick else 256)
    info = machine()
    if not args.json:
        print(f"machine: {info['cpu']}, {info['logical_cpus']} logical CPUs, kernels: "
              f"{info['isa']}, threads: {threads}, read bandwidth {read_gbps:.1f} GB/s")
        print(f"numpy BLAS: {info['blas']}")
        sys.stdout.flush()
    records = []
    for case in bench.make_cases(args.quick, args.seed, groups):
        rec = bench.run_case(case, threads, read_gbps, 0.02 if args.quick else args.budget)
        records.append(rec)
        if not args.json:
            print(bench_tables.engine_row(rec) if len(records) > 1
                  else bench_tables.engine_table([rec]))
            sys.stdout.flush()
    if args.markdown and not args.json:
        print()
        print(bench_tables.engine_markdown(records))
    if args.json:
        out = {"machine": info, "threads": threads, "read_gbps": read_gbps,
               "records": [r.to_json() for r in records]}
        if lenet:
            out["lenet300"] = lenet
        print(json.dumps(out, indent=1))
    return 0


def _tune(args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    from eie.bench import tune
    from eie.bench.machine import machine
    from eie.engine import kernels, tuning
    from eie.errors import ConfigError

    out = Path(args.tune_out) if args.tune_out else tuning.table_path()
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir() or not os.access(parent, os.W_OK):  # before any measuring
        raise ConfigError(f"--tune-out {out}: its folder should exist and be writable")
    cpu = str(machine()["cpu"])
    measured = {}
    for isa in kernels.available_isas():
        print(f"tuning {isa} ...", flush=True)
        measured[isa] = tune.measure(isa, args.quick, args.seed,
                                     0.02 if args.quick else args.budget / 2, print)
        print(f"{isa}: dense from {measured[isa]['dense_crossover_4bit']:.3f} (4-bit), "
              f"{measured[isa]['dense_crossover_8bit']:.3f} (8-bit) weight density", flush=True)
    command = "eie bench --tune" + (" --quick" if args.quick else "") + \
        f" --budget {args.budget:g}"
    tuning.write(out, measured, command, cpu)
    print(f"wrote {out}")
    return 0


def _doc(args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    from eie._io import write_atomic
    from eie.bench.suite import SuiteOptions, run_suite
    from eie.engine import kernels
    from eie.errors import ConfigError
    from eie.report.benchmarks_doc import benchmarks_markdown

    if args.json or args.markdown or args.groups != DEFAULT_GROUPS or args.tune_out:
        raise ConfigError("--doc runs every group and writes Markdown; it takes --quick, "
                          "--threads, --budget and --seed, not --json, --markdown, --groups or "
                          "--tune-out")
    out = Path(args.doc)
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir() or not os.access(parent, os.W_OK):  # before any measuring
        raise ConfigError(f"--doc {out}: its folder should exist and be writable")
    if args.budget <= 0:
        raise ConfigError(f"--budget should be positive, found {args.budget}")
    threads = 1 if args.threads is None else args.threads
    kernels.check_threads(threads)
    command = "eie bench --doc " + str(out) + (" --quick" if args.quick else "") + \
        (f" --threads {threads}" if threads != 1 else "") + \
        (f" --budget {args.budget:g}" if args.budget != 0.3 else "") + \
        (f" --seed {args.seed}" if args.seed else "")
    res = run_suite(SuiteOptions(args.quick, threads, args.budget, args.seed),
                    lambda part: print(f"measuring {part} ...", file=sys.stderr, flush=True))
    write_atomic(out, benchmarks_markdown(res, command).encode())
    print(f"wrote {out} ({res.wall_s:.0f} s)")
    return 0
