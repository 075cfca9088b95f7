"""Benchmarks outside ``eie bench``, as a module's command line (``python -m
eie.cli.bench_scripts BENCH``):

- ``goals [--threads N] [--quick] [--parts goals,sweep,...] [--cases A;B]``: the CPU engine's
  goal cases against their peers (``eie.bench.goals``; also ``python -m
  eie.engine.bench_goals``), Markdown rows printed as they are measured;
- ``colrow [--threads 1] [--batches 1,2,4,8,16] [--sparsity 0,0.25,0.4,0.5] [--shapes
  smollm|all] [--isa NAME] [--ring-mb MB] [--pruned] [--json]``: zero-input skipping on
  per-row-codebook layers, the ``colrow`` layout against ``rowwise`` (``eie.bench.colrow``; also
  ``python -m eie.engine.bench_colrow``);
- ``stream [--blocks 30] [--precisions fp32,int8] [--rounds 3] [--threads 1]``: SmolLM2's
  decode Linear calls streamed from memory, per precision, against a sequential read of the same
  bytes (``eie.bench.stream``);
- ``sim-speed [--pes 64] [--repeats 3] | --cli RUNS [--baseline PYTHONPATH]``: the simulator's
  speed on the nine benchmark layers, or of the whole ``eie simulate --benchmark all --json``
  (``eie.bench.sim_speed``);
- ``lenet5 FILE.eie [--threads 1] [--budget 3]``: LeNet-5 per image (``eie.bench.lenet5``);
- ``kmeans [--n N] [--k K] [--exact]``: weight-sharing k-means (``eie.bench.kmeans``);
- ``deep-compression lenet300|lenet5 [--seeds 0 1 2] [--json F]``: the paper's recipes over
  several seeds (``eie.compress.paper``);
- ``act-blocks MODEL --calib C --text T [--level 0.33] [--blocks 1,8,32] [--orders
  natural,sorted] [--scores abs,wina]``: perplexity with a causal LM's Linear inputs zeroed a
  block of columns at a time, and how often element-wise thresholds leave blocks all zero;
  ``column-codebooks SOURCE --text T [--bits 4]``: perplexity with one codebook per input column
  (``eie.bench.act_granularity``).

Tables are laid out by ``eie.report.bench_tables``. Errors give one line and exit code 2."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m eie.cli.bench_scripts",
                                description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="bench", metavar="BENCH", required=True)
    g = sub.add_parser("goals", help="the CPU engine's goal cases against their peers")
    g.add_argument("--threads", type=int, default=1)
    g.add_argument("--quick", action="store_true", help="shapes / 8, tiny budgets (a smoke test)")
    g.add_argument("--budget", type=float, default=0.4, help="seconds of timing per case")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--parts", default="goals,sweep,overheads,encoder,threads",
                   help="comma-separated: goals, sweep, overheads, encoder, threads (threads "
                   "not with --quick)")
    g.add_argument("--cases", default="",
                   help="goal cases whose names contain one of these ';'-separated parts")
    cr = sub.add_parser("colrow", help="the colrow layout against rowwise on per-row-codebook "
                        "layers with zero inputs")
    cr.add_argument("--threads", type=int, default=1)
    cr.add_argument("--batches", default="1,2,4,8,16")
    cr.add_argument("--sparsity", default="0,0.25,0.4,0.5")
    cr.add_argument("--shapes", choices=("smollm", "all"), default="all")
    cr.add_argument("--isa", default="", help="engine ISA (default: the best this CPU runs)")
    cr.add_argument("--budget", type=float, default=0.3, help="seconds per case")
    cr.add_argument("--json", action="store_true")
    cr.add_argument("--ring-mb", type=int, default=0,
                    help="cycle over copies of each layer holding this many MiB of codes (beyond "
                         "the caches: memory-bound, as a whole model is)")
    cr.add_argument("--pruned", action="store_true",
                    help="time row codebooks in the sparse layout instead (pruned layers)")
    st = sub.add_parser("stream", help="SmolLM2's decode Linear calls streamed from memory, "
                        "per precision, against a sequential read")
    st.add_argument("--blocks", type=int, default=30)
    st.add_argument("--precisions", default="fp32,int8")
    st.add_argument("--rounds", type=int, default=3)
    st.add_argument("--threads", type=int, default=1)
    ss = sub.add_parser("sim-speed", help="the simulator's speed on the nine benchmark layers")
    ss.add_argument("--pes", type=int, default=64)
    ss.add_argument("--seed", type=int, default=0)
    ss.add_argument("--repeats", type=int, default=3)
    ss.add_argument("--cli", type=int, default=0, metavar="RUNS",
                    help="time the whole 'eie simulate --benchmark all --json' RUNS times "
                         "instead (wall and child CPU time)")
    ss.add_argument("--baseline", default=None, metavar="PYTHONPATH",
                    help="with --cli: alternate with the eie found on this PYTHONPATH")
    l5 = sub.add_parser("lenet5", help="a LeNet-5 .eie file per image: eie against torch fp32")
    l5.add_argument("file")
    l5.add_argument("--threads", type=int, default=None)
    l5.add_argument("--budget", type=float, default=3.0, help="seconds of timing")
    km = sub.add_parser("kmeans", help="Lloyd's k-means (each init) against the exact DP")
    km.add_argument("--n", type=int, default=4_000_000, help="weights to cluster")
    km.add_argument("--k", type=int, default=15, help="clusters")
    km.add_argument("--exact", action="store_true", help="also run the exact DP")
    km.add_argument("--rounds", type=int, default=2, help="interleaved rounds")
    dc = sub.add_parser("deep-compression",
                        help="the paper's recipe over several seeds: the averaged tables")
    dc.add_argument("model", choices=("lenet300", "lenet5"))
    dc.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    dc.add_argument("--quick", action="store_true")
    dc.add_argument("--json", type=Path, default=None, help="also write per-seed JSON here")
    ab = sub.add_parser("act-blocks", help="activation sparsity a block of input columns at a "
                        "time: perplexity, and all-zero blocks under element-wise thresholds")
    ab.add_argument("model", help="a causal LM: .eie file or SOURCE")
    ab.add_argument("--calib", required=True, type=Path)
    ab.add_argument("--text", required=True, type=Path)
    ab.add_argument("--level", type=float, default=0.33)
    ab.add_argument("--blocks", default="1,8,32")
    ab.add_argument("--orders", default="natural,sorted")
    ab.add_argument("--scores", default="abs,wina")
    ab.add_argument("--calib-tokens", type=int, default=512)
    ab.add_argument("--ppl-tokens", type=int, default=1024)
    cc = sub.add_parser("column-codebooks", help="perplexity with one codebook per input column")
    cc.add_argument("source", help="a causal LM SOURCE (HF directory or .gguf)")
    cc.add_argument("--text", required=True, type=Path)
    cc.add_argument("--bits", type=int, default=4)
    cc.add_argument("--ppl-tokens", type=int, default=1024)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from eie.errors import ConfigError, EIEError

    args = build_parser().parse_args(argv)
    try:
        if args.bench == "goals":
            _goals(args)
        elif args.bench == "colrow":
            _colrow(args)
        elif args.bench == "stream":
            _stream(args)
        elif args.bench == "sim-speed":
            _sim_speed(args)
        elif args.bench in ("act-blocks", "column-codebooks"):
            _act_granularity(args)
        elif args.bench == "lenet5":
            import torch

            from eie.bench import lenet5
            from eie.report.bench_tables import lenet5_line

            if args.budget <= 0:
                raise ConfigError(f"--budget should be positive, found {args.budget}")
            torch.set_num_threads(args.threads or torch.get_num_threads())
            print(lenet5_line(lenet5.run(args.file, args.threads, args.budget)))
        elif args.bench == "deep-compression":
            import json

            from eie._io import write_atomic
            from eie.compress import paper

            if args.json is not None and not args.json.parent.is_dir():
                raise ConfigError(f"--json {args.json}: its folder should exist")
            results = [paper.run(args.model, seed=s, quick=args.quick) for s in args.seeds]
            print(paper.table(args.model, results))
            if args.json is not None:
                write_atomic(args.json, json.dumps([r.to_json() for r in results],
                                                   indent=1).encode())
        else:
            from eie.bench.kmeans import time_kmeans
            from eie.report.bench_tables import kmeans_lines

            if args.n < 1 or args.k < 1 or args.rounds < 1:
                raise ConfigError(f"--n, --k and --rounds should be >= 1, found {args.n}, "
                                  f"{args.k}, {args.rounds}")
            print(kmeans_lines(time_kmeans(args.n, args.k, args.exact, args.rounds)))
    except EIEError as e:
        print(f"{args.bench}: error: {e}", file=sys.stderr)
        return 2
    return 0


def _goals(args: argparse.Namespace) -> None:
    from eie.bench import goals as bench_goals
    from eie.bench.machine import machine
    from eie.engine import kernels
    from eie.errors import ConfigError
    from eie.report import bench_tables as t

    parts = [v.strip() for v in args.parts.split(",") if v.strip()]
    if not parts or set(parts) - set(bench_goals.PARTS):
        raise ConfigError(f"--parts should name {', '.join(bench_goals.PARTS)}, "
                          f"found {args.parts!r}")
    if args.budget <= 0:
        raise ConfigError(f"--budget should be positive, found {args.budget}")
    kernels.check_threads(args.threads)
    info = machine()
    print(f"CPU {info['cpu']}, {info['logical_cpus']} logical CPUs, ISA "
          f"{kernels.active_isa_name()}, threads {args.threads}", flush=True)
    budget = 0.02 if args.quick else args.budget
    # each part: its table's head and a generator of its rows, printed as they are measured
    tables: dict[str, Callable[[], tuple[str, Iterable[str]]]] = {
        "goals": lambda: (t.GOAL_HEADER, map(t.goal_row, bench_goals.run_goals(
            args.threads, args.quick, budget, args.seed, args.cases))),
        "sweep": lambda: (t.SWEEP_HEADER, map(t.sweep_row, bench_goals.run_sweep(
            args.threads, args.quick, budget, args.seed))),
        "overheads": lambda: (t.overhead_table(bench_goals.run_overheads(budget)), ()),
        "encoder": lambda: (t.ENCODER_HEADER, map(t.encoder_row,
                                                  bench_goals.run_encoder(args.quick))),
        "threads": lambda: (t.THREADS_HEADER, map(t.threads_row,
                                                  bench_goals.run_threads(budget, args.seed)))}
    for part in bench_goals.PARTS:
        if part not in parts or (part == "threads" and args.quick):
            continue
        head, rows = tables[part]()
        print(head, flush=True)
        for line in rows:
            print(line, flush=True)


def _int_list(text: str, what: str) -> list[int]:
    from eie.errors import ConfigError

    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"{what} should be comma-separated integers, found {text!r}") from None


def _act_granularity(args: argparse.Namespace) -> None:
    from eie.bench import act_granularity as ag
    from eie.errors import ConfigError
    from eie.llm.actblocks import ORDERS, SCORES
    from eie.llm.calibrate import read_text
    from eie.llm.modelfile import open_model

    if not 2 <= args.ppl_tokens <= 1_000_000:
        raise ConfigError(f"--ppl-tokens should be in 2..1000000, found {args.ppl_tokens}")
    text = read_text(args.text)
    if args.bench == "column-codebooks":
        if not 1 <= args.bits <= 8:
            raise ConfigError(f"--bits should be in 1..8, found {args.bits}")
        c = ag.column_codebooks(open_model(args.source), text, args.bits,
                                ppl_tokens=args.ppl_tokens)
        print("| model | perplexity | bits/weight (Linear) | median relative weight error |")
        print("|---|---|---|---|")
        print(f"| source | {c.source:.3f} | - | - |")
        print(f"| one {1 << args.bits}-entry codebook per input column | {c.per_column:.3f} "
              f"({c.per_column / c.source:.4f}x) | {c.bits_per_weight:.3f} | "
              f"{c.weight_error:.5f} |")
        return
    if not 2 <= args.calib_tokens <= 1_000_000:
        raise ConfigError(f"--calib-tokens should be in 2..1000000, found {args.calib_tokens}")
    sizes = _int_list(args.blocks, "--blocks")
    orders = [o for o in args.orders.split(",") if o]
    scores = [s for s in args.scores.split(",") if s]
    bad = [o for o in orders if o not in ORDERS] + [s for s in scores if s not in SCORES]
    if bad or not sizes or min(sizes) < 1 or not 0 <= args.level < 1:
        raise ConfigError(f"--blocks should be positive integers, --orders in {ORDERS}, "
                          f"--scores in {SCORES}, --level in [0, 1); found {args.blocks!r}, "
                          f"{args.orders!r}, {args.scores!r}, {args.level}")
    calib = read_text(args.calib, "calibration text")
    r = ag.blocks(open_model(args.model), calib, text, args.level, sizes, orders, scores,
                  calib_tokens=args.calib_tokens, ppl_tokens=args.ppl_tokens,
                  step=lambda m: print(f"  {m}", flush=True))
    print(f"dense perplexity {r.dense:.3f}")
    print("| order | score | block (columns) | target | perplexity | vs dense | zeroed |")
    print("|---|---|---|---|---|---|---|")
    for row in r.rows:
        print(f"| {row.order} | {row.score} | {row.block} | {row.level:.2f} | "
              f"{row.perplexity:.3f} | {row.perplexity / r.dense:.4f} | {row.realised:.3f} |")
    print("all-zero blocks under element-wise |x| thresholds (weight-weighted fraction):")
    for order, by in r.all_zero.items():
        print(f"  {order}: " + ", ".join(f"{b} columns {f:.4f}" for b, f in by.items()))


def _stream(args: argparse.Namespace) -> None:
    from eie.bench import stream
    from eie.bench.machine import machine
    from eie.engine import kernels
    from eie.errors import ConfigError

    if not 1 <= args.blocks <= 1000 or not 1 <= args.rounds <= 100:
        raise ConfigError(f"--blocks should be in 1..1000 and --rounds in 1..100, found "
                          f"{args.blocks} and {args.rounds}")
    rows = stream.run(args.blocks, [p for p in args.precisions.split(",") if p], args.rounds,
                      threads=args.threads)
    info = machine()
    print(f"CPU {info['cpu']}, {info['logical_cpus']} logical CPUs, ISA "
          f"{kernels.active_isa_name()}, threads {args.threads}", flush=True)
    print("| calls | ms per pass: wall (CPU), best | CPU rounds | GB/s of codes (wall) |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r.name} | {r.wall_ms:.2f} ({r.ms:.2f}) | "
              f"{', '.join(f'{t:.2f}' for t in r.rounds)} | {r.gb_s:.1f} |")


def _colrow(args: argparse.Namespace) -> None:
    import json

    from eie.bench import colrow
    from eie.engine import kernels
    from eie.errors import ConfigError
    from eie.report.bench_tables import colrow_line, colrow_pruned_line

    try:
        batches = [int(v) for v in args.batches.split(",")]
        sparsities = [float(v) for v in args.sparsity.split(",")]
    except ValueError:
        raise ConfigError(f"--batches takes integers and --sparsity fractions, comma-separated, "
                          f"found {args.batches!r} and {args.sparsity!r}") from None
    if not all(1 <= b <= 16 for b in batches) or not all(0 <= s < 1 for s in sparsities) \
            or args.threads < 1 or args.ring_mb < 0 or args.budget < 0:
        raise ConfigError(f"batches should be 1..16, sparsities in [0, 1), threads >= 1, "
                          f"--ring-mb and --budget >= 0, found {args.batches!r}, "
                          f"{args.sparsity!r}, {args.threads}, {args.ring_mb}, {args.budget}")
    isa = args.isa or kernels.active_isa_name()
    if args.pruned:
        cases = colrow.run_pruned(args.threads, isa, args.budget)
        if args.json:
            print(json.dumps({"isa": isa, "threads": args.threads, "cases": cases}, indent=1))
        else:
            for c in cases:
                print(colrow_pruned_line(c))
        return
    shapes = colrow.SMOLLM_SHAPES + (colrow.LARGE_SHAPES if args.shapes == "all" else ())
    results = []
    for r in colrow.run_layers(shapes, batches, sparsities, args.threads, isa, args.budget,
                               args.ring_mb):
        results.append(r)
        if not args.json:
            print(colrow_line(r), flush=True)
    if args.json:
        print(json.dumps({"isa": isa, "threads": args.threads, "cases": results}, indent=1))


def _sim_speed(args: argparse.Namespace) -> None:
    from eie.bench import sim_speed
    from eie.errors import ConfigError
    from eie.report.bench_tables import sim_cli_lines, sim_speed_table

    if args.repeats < 1 or args.cli < 0 or args.pes < 1:
        raise ConfigError(f"--repeats and --pes should be >= 1 and --cli >= 0, found "
                          f"{args.repeats}, {args.pes}, {args.cli}")
    if args.baseline and not Path(args.baseline).is_dir():
        raise ConfigError(f"--baseline {args.baseline}: should be a folder holding eie")
    if args.cli:
        print(sim_cli_lines(sim_speed.measure_cli(args.cli, args.baseline)))
    else:
        print(sim_speed_table(sim_speed.measure_suite(args.pes, args.seed, args.repeats)))


if __name__ == "__main__":
    raise SystemExit(main())
