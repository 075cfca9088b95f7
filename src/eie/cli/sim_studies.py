"""The simulator's studies, as a module's command line (``python -m eie.cli.sim_studies
STUDY``):

- ``structured [--density 0.125] [--size 1024] [--plot F.png]``: unstructured, N:M, block and
  load-balance-aware pruning of the same weights at equal density, and block-CSC
  (``eie.sim.structured``);
- ``llm-scale [--densities 1.0,0.1] [--plot F.png]``: SmolLM2-135M's layers and a 4096x11008
  layer, SRAM-resident vs DRAM-streamed (``eie.sim.llm_scale``).

Tables and figures come from ``eie.report.sim_studies``. Errors give one line and exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m eie.cli.sim_studies",
                                description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="study", metavar="STUDY", required=True)
    st = sub.add_parser("structured", help="structured vs unstructured sparsity, block-CSC")
    st.add_argument("--density", type=float, default=0.125)
    st.add_argument("--size", type=int, default=1024, help="rows = cols of the layer")
    st.add_argument("--plot", type=Path, default=None, help="write the figure (PNG) here")
    ls = sub.add_parser("llm-scale", help="LLM-scale layers, SRAM-resident vs DRAM-streamed")
    ls.add_argument("--densities", default="1.0,0.1", help="comma-separated weight densities")
    ls.add_argument("--plot", type=Path, default=None, help="write the figure (PNG) here")
    return p


def _densities(text: str) -> tuple[float, ...]:
    from eie.errors import ConfigError

    try:
        out = tuple(float(v) for v in text.split(","))
    except ValueError:
        out = ()
    if not out or not all(0.0 < d <= 1.0 for d in out):
        raise ConfigError(f"--densities should be comma-separated numbers in (0, 1], "
                          f"found {text!r}")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    from eie.errors import ConfigError, EIEError
    from eie.report import sim_studies

    args = build_parser().parse_args(argv)
    try:
        if args.plot is not None and not args.plot.parent.is_dir():
            raise ConfigError(f"--plot {args.plot}: its folder should exist")
        if args.study == "structured":
            from eie.sim import structured

            recs = structured.study(args.density, args.size, args.size)
            print(sim_studies.structured_table(recs))
            if args.plot:
                sim_studies.plot_structured(recs, args.plot)
        else:
            from eie.sim import llm_scale

            recs = llm_scale.study(densities=_densities(args.densities))
            print(sim_studies.llm_scale_table(recs))
            if args.plot:
                sim_studies.plot_llm_scale(recs, args.plot)
        if args.plot:
            print(f"wrote {args.plot}")
    except EIEError as e:
        print(f"{args.study}: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
