"""Simulator speed on the paper's nine benchmark layers: ``python -m eie.sim.speed``.

Times the C++ cycle loop alone and the whole ``simulate()`` (loop + energy + result, with the
fixed-point format given, so no float reference pass), best of ``repeats``, on one core. Layer
generation is not timed. Prints simulated PE-cycles per second.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from eie.bench.layers import BENCHMARKS, make_layer
from eie.engine.fixed_point import FixedPointFormat
from eie.sim.config import HardwareConfig
from eie.sim.simulate import loop_params, run_core, simulate


def measure_suite(num_pes: int = 64, seed: int = 0, repeats: int = 3) -> list[dict[str, Any]]:
    config = HardwareConfig(num_pes=num_pes)
    fmt = FixedPointFormat(act_frac_bits=12, weight_frac_bits=15)
    rows = []
    for name in BENCHMARKS:
        m, x = make_layer(name, num_pes=num_pes, seed=seed)
        x_q = fmt.quantize_act(x)
        wq = fmt.quantize_weights(m.codebook)
        p = loop_params(config)
        loop_s = sim_s = loop_cpu = float("inf")
        for _ in range(repeats):
            t0, c0 = time.perf_counter(), time.thread_time()
            run_core(m, x_q, wq, p)
            t1, c1 = time.perf_counter(), time.thread_time()
            r = simulate(m, x, config=config, fmt=fmt, name=name)
            t2 = time.perf_counter()
            loop_s, sim_s = min(loop_s, t1 - t0), min(sim_s, t2 - t1)
            loop_cpu = min(loop_cpu, c1 - c0)
        rows.append({"name": name, "cycles": r.cycles, "latency_us": r.latency_us,
                     "pe_cycles": r.pe_cycles, "loop_s": loop_s, "loop_cpu_s": loop_cpu,
                     "simulate_s": sim_s})
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


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m eie.sim.speed", description=__doc__)
    ap.add_argument("--pes", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cli", type=int, default=0, metavar="RUNS",
                    help="time the whole 'eie simulate --benchmark all --json' RUNS times "
                         "instead (wall and child CPU time)")
    ap.add_argument("--baseline", default=None, metavar="PYTHONPATH",
                    help="with --cli: alternate with the eie found on this PYTHONPATH")
    a = ap.parse_args(argv)
    if a.cli:
        res = measure_cli(a.cli, a.baseline)
        for name, runs in res.items():
            walls, cpus = [w for w, _ in runs], [c for _, c in runs]
            print(f"{name:8s} wall median {float(np.median(walls)):.2f} s (min {min(walls):.2f}),"
                  f" CPU median {float(np.median(cpus)):.2f} s (min {min(cpus):.2f})")
        if "baseline" in res:
            bw = float(np.median([w for w, _ in res["baseline"]]))
            bc = float(np.median([c for _, c in res["baseline"]]))
            tw = float(np.median([w for w, _ in res["this"]]))
            tc = float(np.median([c for _, c in res["this"]]))
            print(f"baseline / this: wall {bw / tw:.2f}x, CPU {bc / tc:.2f}x")
        return
    rows = measure_suite(a.pes, a.seed, a.repeats)
    print(f"{'layer':8s} {'cycles':>8s} {'latency us':>10s} {'PE-cycles':>10s} {'loop ms':>8s} "
          f"{'simulate ms':>11s}")
    for r in rows:
        print(f"{r['name']:8s} {r['cycles']:8d} {r['latency_us']:10.2f} {r['pe_cycles']:10d} "
              f"{r['loop_s'] * 1e3:8.1f} {r['simulate_s'] * 1e3:11.1f}")
    pec = int(np.sum([r["pe_cycles"] for r in rows]))
    loop = float(np.sum([r["loop_s"] for r in rows]))
    sim = float(np.sum([r["simulate_s"] for r in rows]))
    cpu = float(np.sum([r["loop_cpu_s"] for r in rows]))
    print(f"total: {pec:,} PE-cycles; loop {loop:.3f} s wall ({pec / loop / 1e6:.1f} M "
          f"PE-cycles/s), {cpu:.3f} s thread CPU ({pec / cpu / 1e6:.1f} M PE-cycles/s); "
          f"simulate() {sim:.3f} s wall ({pec / sim / 1e6:.1f} M PE-cycles/s)")


if __name__ == "__main__":
    main()
