"""Every benchmark group of the reference document (``docs/benchmarks.md``), run in one process
on the current machine: ``eie bench --doc PATH [--quick]`` runs ``run_suite`` and
``eie.report.benchmarks_doc`` lays the results out.

The groups, in order: the paper's nine layers against dense and sparse baselines
(``eie.bench.engine_cases``), the CPU engine's goal cases, the weight-density sweep, per-call
overheads, encoder speeds and 1 vs 2 threads (``eie.bench.goals``), LeNet-300-100 per
image (``eie.bench.lenet300``) and the simulator's speed (``eie.bench.sim_speed``). Every
contender is timed by ``eie.bench.timing``; the machine's load is recorded before and after,
since the figures are only as quiet as the machine was. ``quick``: tiny shapes and budgets, a
check that every group runs (its figures are not reference figures).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from eie.bench.engine_cases import Record
from eie.bench.goals import EncoderRow, GoalRow, SweepRow, ThreadsRow


@dataclass(frozen=True)
class SuiteOptions:
    """How the suite runs."""

    quick: bool = False
    """Tiny shapes and budgets (seconds in all): a check that every group runs."""
    threads: int = 1
    """Threads for eie and every baseline (the goals are one-thread goals)."""
    budget_s: float = 0.4
    """Seconds of interleaved timing per case."""
    seed: int = 0


@dataclass
class SuiteResults:
    """Every group's records, the machine record and the load around the run."""

    options: SuiteOptions
    machine: dict[str, Any]
    started_utc: str
    """ISO 8601, seconds."""
    load_before: tuple[float, float, float]
    """``os.getloadavg()`` (1, 5, 15 minutes) when the run started."""
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)
    wall_s: float = 0.0
    read_gbps: float = 0.0
    """Read bandwidth measured in the same process (``eie.bench.memory``)."""
    layers: list[Record] = field(default_factory=list)
    goals: list[GoalRow] = field(default_factory=list)
    sweep: list[SweepRow] = field(default_factory=list)
    overheads_cpu_us: dict[str, float] = field(default_factory=dict)
    encoder: list[EncoderRow] = field(default_factory=list)
    threads: list[ThreadsRow] = field(default_factory=list)
    """Empty in quick mode (full-size cases only)."""
    lenet300: list[dict[str, Any]] = field(default_factory=list)
    sim_speed: list[dict[str, Any]] = field(default_factory=list)


PARTS = ("layers", "goals", "sweep", "overheads", "encoder", "threads", "lenet300", "sim_speed")


def run_suite(opts: SuiteOptions, progress: Callable[[str], object] | None = None
              ) -> SuiteResults:
    """Run every group of ``PARTS`` in order; ``progress(part)`` is called as each starts."""
    from eie.bench import engine_cases as bench
    from eie.bench import goals as bench_goals
    from eie.bench import lenet300, sim_speed
    from eie.bench.machine import machine
    from eie.bench.memory import read_bandwidth_gbps

    def step(name: str) -> None:
        if progress is not None:
            progress(name)

    t0 = time.perf_counter()
    res = SuiteResults(opts, machine(), time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                       os.getloadavg())
    budget = 0.02 if opts.quick else opts.budget_s
    res.read_gbps = read_bandwidth_gbps(opts.threads, 32 if opts.quick else 256)
    step("layers")
    res.layers = [bench.run_case(c, opts.threads, res.read_gbps, budget)
                  for c in bench.make_cases(opts.quick, opts.seed, ("layer",))]
    step("goals")
    res.goals = list(bench_goals.run_goals(opts.threads, opts.quick, budget, opts.seed))
    step("sweep")
    res.sweep = list(bench_goals.run_sweep(opts.threads, opts.quick, budget, opts.seed))
    step("overheads")
    res.overheads_cpu_us = bench_goals.run_overheads(budget)
    step("encoder")
    res.encoder = list(bench_goals.run_encoder(opts.quick))
    if not opts.quick:
        step("threads")
        res.threads = list(bench_goals.run_threads(budget, opts.seed))
    step("lenet300")
    res.lenet300 = [lenet300.run_lenet300(opts.threads, 0.2 if opts.quick else 3 * budget,
                                          opts.seed, bits)
                    for bits in ((4, 4, 4), lenet300.DEEP_COMPRESSION_BITS)]
    step("sim_speed")
    res.sim_speed = sim_speed.measure_suite(repeats=1 if opts.quick else 3, seed=opts.seed)
    res.wall_s = time.perf_counter() - t0
    res.load_after = os.getloadavg()
    return res
