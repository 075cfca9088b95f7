"""Benchmarks outside ``eie bench``, as a module's command line:
``python -m eie.cli.bench_scripts lenet5 FILE.eie [--threads 1] [--budget 3]`` (LeNet-5 per image,
``eie.bench.lenet5``) and ``python -m eie.cli.bench_scripts kmeans [--n N] [--k K] [--exact]``
(weight-sharing k-means, ``eie.bench.kmeans``). Errors give one line and exit code 2."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


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
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from eie.errors import ConfigError, EIEError

    args = build_parser().parse_args(argv)
    try:
        if args.bench == "lenet5":
            import torch

            from eie.bench.lenet5 import format_result, run

            if args.budget <= 0:
                raise ConfigError(f"--budget should be positive, found {args.budget}")
            torch.set_num_threads(args.threads or torch.get_num_threads())
            print(format_result(run(args.file, args.threads, args.budget)))
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
