"""Simulator speed on the paper's nine benchmark layers (``python -m eie.cli.bench_scripts
sim-speed``; ``eie.report.bench_tables`` lays the results out).

Times the C++ cycle loop alone and the whole ``simulate()`` (loop + energy + result, with the
fixed-point format given, so no float reference pass), best of ``repeats``
(``eie.bench.timing.best_of``), on one core. Layer generation is not timed. The figure of merit
is simulated PE-cycles per second.
"""

from __future__ import annotations

import functools
import time
from typing import Any

import numpy as np
import numpy.typing as npt

from eie.bench.timing import best_of
from eie.engine.fixed_point import FixedPointFormat
from eie.formats.benchmark_layers import BENCHMARKS, make_layer
from eie.formats.eie_matrix import EIEMatrix
from eie.sim.config import HardwareConfig
from eie.sim.result import SimResult
from eie.sim.simulate import loop_params, run_core, simulate


def _simulate_into(out: list[SimResult], m: EIEMatrix, x: npt.NDArray[np.float32],
                   config: HardwareConfig, fmt: FixedPointFormat, name: str) -> None:
    out.append(simulate(m, x, config=config, fmt=fmt, name=name))


def measure_suite(num_pes: int = 64, seed: int = 0, repeats: int = 3,
                  layers: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
    """Per layer (default: all nine): cycles, latency, PE-cycles and the best loop and
    ``simulate()`` times in seconds (``loop_cpu_s``: the loop's thread CPU time)."""
    config = HardwareConfig(num_pes=num_pes)
    fmt = FixedPointFormat(act_frac_bits=12, weight_frac_bits=15)
    rows = []
    for name in layers or tuple(BENCHMARKS):
        m, x = make_layer(name, num_pes=num_pes, seed=seed)
        x_q = fmt.quantize_act(x)
        wq = fmt.quantize_weights(m.codebook)
        p = loop_params(config)
        loop = best_of(functools.partial(run_core, m, x_q, wq, p), repeats)
        results: list[SimResult] = []
        sim = best_of(functools.partial(_simulate_into, results, m, x, config, fmt, name),
                      repeats)
        r = results[-1]
        rows.append({"name": name, "cycles": r.cycles, "latency_us": r.latency_us,
                     "pe_cycles": r.pe_cycles, "loop_s": loop.wall_us * 1e-6,
                     "loop_cpu_s": loop.cpu_us * 1e-6, "simulate_s": sim.wall_us * 1e-6})
    return rows


CLI = ["-m", "eie.cli.main", "simulate", "--benchmark", "all", "--json"]
_BASELINE = ("import runpy, sys; sys.meta_path[:] = [f for f in sys.meta_path if "
             "'Redirecting' not in type(f).__name__]; sys.path.insert(0, {path!r}); "
             "sys.argv = ['eie'] + sys.argv[1:]; runpy.run_module('eie.cli.main', "
             "run_name='__main__')")


def _run_cli(pythonpath: str | None) -> tuple[float, float]:
    """(wall s, child CPU s: user + system) of one ``eie simulate --benchmark all --json``."""
    import os
    import resource
    import subprocess
    import sys

    cmd = [sys.executable, *CLI]
    if pythonpath:  # that tree's eie, even where an editable install redirects imports here
        cmd = [sys.executable, "-c", _BASELINE.format(path=pythonpath), *CLI[2:]]
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, env=dict(os.environ), check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


def measure_cli(runs: int, baseline: str | None) -> dict[str, list[tuple[float, float]]]:
    """The whole command, ``runs`` times; with ``baseline`` (a PYTHONPATH holding another
    build of eie) the two alternate, so both see the same load."""
    out: dict[str, list[tuple[float, float]]] = {"this": []}
    if baseline:
        out["baseline"] = []
    for _ in range(runs):
        out["this"].append(_run_cli(None))
        if baseline:
            out["baseline"].append(_run_cli(baseline))
    return out
