"""``eie`` console script: argparse front end, lazy subcommands, errors -> exit codes.

Each subcommand lives in its own module ``eie.cli.<module>`` defining:

- ``HELP``: one line for ``eie --help``;
- ``add_arguments(parser)``: its options (the module must be cheap to import: heavy imports go
  inside ``run``);
- ``run(args) -> int``: does the work and returns the exit code.

Library code raises ``eie.errors`` exceptions; this module alone turns them into a one-line
message on stderr and exit code 2 (1 for unexpected failures, 130 for Ctrl-C).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# name -> module under eie.cli
COMMANDS: dict[str, str] = {
    "compress": "compress_cmd",
    "sensitivity": "sensitivity_cmd",
    "demo": "demo_cmd",
    "inspect": "inspect_cmd",
    "convert": "convert_cmd",
    "simulate": "simulate_cmd",
    "sweep": "sweep_cmd",
    "run": "run_cmd",
    "bench": "bench_cmd",
    "paper": "paper_cmd",
    "quantize": "quantize_cmd",
    "eval": "eval_cmd",
    "generate": "generate_cmd",
    "bench-llm": "llm_bench_cmd",
}

EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    from eie._version import __version__

    parser = argparse.ArgumentParser(
        prog="eie",
        description="EIE, the Efficient Inference Engine on compressed networks: compress, "
                    "store, run and simulate sparse, weight-shared layers.")
    parser.add_argument("--version", action="version", version=f"eie {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(f"eie.cli.{module_name}")
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from eie.errors import EIEError

    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "_module", None) is None:
        parser.print_help()
        return EXIT_USAGE
    args.command_line = ["eie", *(sys.argv[1:] if argv is None else argv)]
    try:
        return int(args._module.run(args) or 0)
    except EIEError as e:
        print(f"eie {args.command}: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"eie {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
