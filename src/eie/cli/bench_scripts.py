"""Benchmarks outside ``eie bench``, as a module's command line:
``python -m eie.cli.bench_scripts lenet5 FILE.eie [--threads 1] [--budget 3]`` (LeNet-5 per image,
``eie.bench.lenet5``), ``python -m eie.cli.bench_scripts kmeans [--n N] [--k K] [--exact]``
(weight-sharing k-means, ``eie.bench.kmeans``) and ``python -m eie.cli.bench_scripts
deep-compression lenet300|lenet5 [--seeds 0 1 2] [--json F]`` (the paper's recipes over several
seeds, ``eie.compress.paper``). Errors give one line and exit code 2."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m eie.cli.bench_scripts",
                                description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="bench", metavar="BENCH", required=True)
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
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from eie.errors import ConfigError, EIEError

    args = build_parser().parse_args(argv)
    try:
        if args.bench == "lenet5":
            import torch

            from eie.bench import lenet5

            if args.budget <= 0:
                raise ConfigError(f"--budget should be positive, found {args.budget}")
            torch.set_num_threads(args.threads or torch.get_num_threads())
            print(lenet5.format_result(lenet5.run(args.file, args.threads, args.budget)))
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
            from eie.bench.kmeans import format_kmeans, time_kmeans

            if args.n < 1 or args.k < 1 or args.rounds < 1:
                raise ConfigError(f"--n, --k and --rounds should be >= 1, found {args.n}, "
                                  f"{args.k}, {args.rounds}")
            print(format_kmeans(time_kmeans(args.n, args.k, args.exact, args.rounds)))
    except EIEError as e:
        print(f"{args.bench}: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
