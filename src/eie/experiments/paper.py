"""``eie paper``: the EIE paper's evaluation, reproduced in simulation and on this machine's CPU.

1. The nine benchmark layers (Table III): simulated EIE (64 PEs, FIFO 8, 800 MHz) beside eie's
   CPU engine and numpy's dense fp32 GEMV on this machine: latency, speedups, energy per layer
   (shaped like the paper's Table IV and Figures 6-7, with our CPU in place of theirs).
2. The design-space figures (Figures 8-12 of the paper): load efficiency vs FIFO depth, speedup
   and real work vs PE count, energy vs SRAM width, fillers vs index bits.
3. One PE's and the chip's power and area breakdown (Table II) from the energy and area models.
4. Beyond the paper: structured vs unstructured sparsity (with a block-CSC variant) and
   LLM-scale layers, SRAM-resident vs DRAM-streamed.

CPU energy cannot be measured here; it is estimated as time x an assumed CPU power
(``cpu_power_w``, stated in every caption and table note).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from eie.bench.timing import interleaved
from eie.formats.benchmark_layers import BENCHMARKS, make_layer
from eie.report import Report
from eie.report.paper import SWEEPS
from eie.sim import HardwareConfig, simulate
from eie.sim.tables import chip_summary, table_ii

PAPER_CONFIG = HardwareConfig()  # 64 PEs, FIFO 8, 800 MHz, 64-bit spmat SRAM: the paper's design


@dataclass(frozen=True)
class PaperOptions:
    seed: int = 0
    """Seed of the random benchmark layers and inputs."""
    quick: bool = False
    """Fewer timing repeats and a smaller sweep (used by the tests)."""
    threads: int | None = None
    """CPU engine threads (default: all cores)."""
    cpu_power_w: float = 15.0
    """Assumed CPU power while running a layer, for the CPU energy estimate (W)."""
    dumps: tuple[str, ...] = ()
    """Folders in the EIE authors' simulator format (e.g. their AlexNet fc8 dump) reported
    beside the real MiniLM layers, each with its synthetic twin."""
    command: tuple[str, ...] = ("eie", "paper")
    """The command line that produced the run (for captions and provenance)."""


def nine_layers(opts: PaperOptions, progress: Any = None) -> list[dict[str, Any]]:
    """One record per benchmark layer: simulated EIE beside the CPU engine and numpy dense."""
    from eie.engine import spmv

    repeats = 3 if opts.quick else 15
    records = []
    for name, spec in BENCHMARKS.items():
        m, x = make_layer(name, num_pes=PAPER_CONFIG.num_pes, seed=opts.seed)
        sim = simulate(m, x, config=PAPER_CONFIG, name=name)
        spmv(m, x, threads=opts.threads)  # prepares and caches the CPU layout
        dense = m.to_dense()
        with threadpool_limits(limits=opts.threads):  # numpy gets the same threads as eie
            t = interleaved({"eie": functools.partial(spmv, m, x, threads=opts.threads),
                             "numpy": functools.partial(np.matmul, dense, x)},
                            budget_s=0.03 if opts.quick else 0.3, min_reps=repeats,
                            max_reps=100 * repeats)
        eie_us, numpy_us = t["eie"].wall_us, t["numpy"].wall_us
        del dense
        energy_uj = sim.energy_pj * 1e-6
        records.append({
            "name": name, "description": spec.description, "rows": spec.rows, "cols": spec.cols,
            "weight_density": spec.weight_density, "act_density": spec.act_density,
            "eie_sim_cycles": sim.cycles, "eie_sim_us": sim.latency_us,
            "load_efficiency": sim.load_efficiency, "real_work_fraction": sim.real_work_fraction,
            "pe_imbalance": sim.pe_imbalance,
            "eie_sim_energy_uj": energy_uj, "eie_cpu_us": eie_us, "numpy_dense_us": numpy_us,
            "speedup_sim_vs_numpy": numpy_us / sim.latency_us,
            "speedup_sim_vs_eie_cpu": eie_us / sim.latency_us,
            "speedup_eie_cpu_vs_numpy": numpy_us / eie_us,
            "cpu_energy_uj_estimate": numpy_us * opts.cpu_power_w,
            "energy_gain_sim_vs_numpy": numpy_us * opts.cpu_power_w / max(energy_uj, 1e-12),
        })
        if progress is not None:
            progress(name)
    return records


QUICK_AXES = {"fifo_depth": [1, 8, 64], "num_pes": [4, 16, 64],
              "spmat_sram_width_bits": [32, 64, 256], "index_bits": [2, 4, 8]}
QUICK_LAYERS = ["alex8", "nt_we"]
"""The reduced sweeps of ``--quick``: three points per study on two layers."""


def sweep_records(opts: PaperOptions, out_dir: Any, progress: Any = None
                  ) -> dict[str, list[dict[str, Any]]]:
    """Run (or resume) the four design-space sweeps; records per study."""
    from pathlib import Path

    from eie.sim.sweep import PRESETS, sweep

    layers = QUICK_LAYERS if opts.quick else list(BENCHMARKS)
    results = {}
    for study, (field, _) in SWEEPS.items():
        axes = {field: QUICK_AXES[field]} if opts.quick else PRESETS[study]
        results[study] = sweep(axes, layers, Path(out_dir) / "sweep.jsonl", base=PAPER_CONFIG,
                               seeds=(opts.seed,), progress=progress)
    return results


def beyond_the_paper(opts: PaperOptions) -> dict[str, Any]:
    """Structured sparsity (with block-CSC) and LLM-scale layers (SRAM-resident vs DRAM-streamed):
    the retrospective's questions, on the same simulator; real layers where they can be read."""
    from eie.sim import llm_scale, real_layers, structured

    size = 256 if opts.quick else 1024
    layers = ({k: llm_scale.LAYERS[k] for k in ("smollm2.q_proj", "smollm2.gate_proj")}
              if opts.quick else llm_scale.LAYERS)
    densities = (0.1,) if opts.quick else (1.0, 0.1)
    out: dict[str, Any] = {
        "size": size,
        "structured": structured.study(density=0.125, rows=size, cols=size, seed=opts.seed),
        "llm_scale": llm_scale.study(layers, densities, seed=opts.seed)}
    real = real_layers.imbalance_table(seed=opts.seed) if real_layers.available() else []
    real += [real_layers.dump_row(d, seed=opts.seed) for d in opts.dumps]
    if real:
        out["real_layers"] = real
    return out


@dataclass(frozen=True)
class PaperResults:
    """Everything ``eie paper`` computes (the report lays it out: ``eie.report.paper``)."""

    layers: list[dict[str, Any]]
    """One record per benchmark layer (``nine_layers``)."""
    sweeps: dict[str, list[dict[str, Any]]]
    """Sweep records per study (``sweep_records``)."""
    pe_rows: list[dict[str, Any]]
    """One PE's power and area by module (``eie.sim.tables.table_ii``)."""
    chip: dict[str, float]
    beyond: dict[str, Any]
    """``beyond_the_paper``'s records."""


def run_paper(opts: PaperOptions, out_dir: Any, progress: Any = None) -> Report:
    """Every step of ``eie paper``, then its report (written by the caller)."""
    from eie.report import provenance
    from eie.report.paper import paper_report

    results = PaperResults(
        layers=nine_layers(opts, progress), sweeps=sweep_records(opts, out_dir, progress),
        pe_rows=table_ii(PAPER_CONFIG), chip=chip_summary(PAPER_CONFIG),
        beyond=beyond_the_paper(opts))
    return paper_report(results, opts, PAPER_CONFIG, provenance(list(opts.command)))
