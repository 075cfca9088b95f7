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

from eie.bench.layers import BENCHMARKS, make_layer
from eie.bench.timing import interleaved
from eie.report import Report, Table
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


def nine_layer_table(records: list[dict[str, Any]], opts: PaperOptions) -> Table:
    rows = [[r["name"], f"{r['rows']}x{r['cols']}", 100 * r["weight_density"],
             100 * r["act_density"], r["eie_sim_us"], r["eie_cpu_us"], r["numpy_dense_us"],
             r["speedup_sim_vs_numpy"], r["speedup_eie_cpu_vs_numpy"], r["eie_sim_energy_uj"],
             r["energy_gain_sim_vs_numpy"], 100 * r["load_efficiency"]] for r in records]
    geo = [np.exp(np.mean(np.log([r[k] for r in records])))
           for k in ("speedup_sim_vs_numpy", "speedup_eie_cpu_vs_numpy",
                     "energy_gain_sim_vs_numpy")]
    rows.append(["geo mean", "", "", "", "", "", "", geo[0], geo[1], "", geo[2], ""])
    return Table(
        "Nine benchmark layers: simulated EIE vs this CPU (cf. the paper's Table IV, Figs. 6-7)",
        ["layer", "shape", "weight density (%)", "act density (%)", "EIE sim (us)",
         "eie CPU engine (us)", "numpy dense fp32 (us)", "EIE speedup vs numpy (x)",
         "eie CPU speedup vs numpy (x)", "EIE energy (uJ)", "EIE energy gain vs CPU (x)",
         "load efficiency (%)"],
        rows,
        note=(f"EIE: {PAPER_CONFIG.num_pes} PEs, FIFO {PAPER_CONFIG.fifo_depth}, "
              f"{PAPER_CONFIG.clock_mhz:g} MHz, cycle-level simulation. CPU: batch 1, median "
              f"of repeats, threads={opts.threads or 'all'}. CPU energy is estimated as numpy "
              f"time x {opts.cpu_power_w:g} W (assumed, not measured). Random layers with the "
              f"paper's densities, seed {opts.seed}."))


def breakdown_tables(config: HardwareConfig = PAPER_CONFIG) -> tuple[Table, Table, dict[str, Any]]:
    """Power and area of one PE by module and of the chip (cf. the paper's Table II)."""
    rows = table_ii(config)
    chip = chip_summary(config)
    blank = ""
    pe_table = Table(
        "One PE: power and area by module (cf. the paper's Table II)",
        ["module", "power (mW)", "power (%)", "area (um^2)", "area (%)"],
        [[r["module"], *(blank if r[k] is None else r[k]
                         for k in ("power_mw", "power_percent", "area_um2", "area_percent"))]
         for r in rows],
        note=f"A busy PE in the paper's steady state at {config.clock_mhz:g} MHz, priced by the "
             "default 45 nm energy table; areas scaled from the paper's PE by SRAM sizes.")
    chip_table = Table(
        f"Chip with {config.num_pes} PEs", ["power (mW)", "area (mm^2)", "peak (GOP/s)"],
        [[chip["power_mw"], chip["area_mm2"], chip["peak_gops"]]],
        note="The paper reports 590 mW, 40.8 mm^2 and 102.4 GOP/s for its 64-PE chip.")
    return pe_table, chip_table, {"pe": rows, "chip": chip}


def add_nine_layers(report: Report, records: list[dict[str, Any]], opts: PaperOptions) -> None:
    report.add_heading("The nine benchmark layers")
    report.add_table(nine_layer_table(records, opts))
    report.data["layers"] = records


# The paper's design-space studies (section VI) and the figure each one feeds.
SWEEPS: dict[str, tuple[str, str]] = {
    "fifo": ("fifo_depth", "load_efficiency_vs_fifo"),
    "pes": ("num_pes", "speedup_vs_pes"),
    "sram": ("spmat_sram_width_bits", "energy_vs_sram_width"),
    "index": ("index_bits", "fillers_vs_index_bits"),
}
EXTRA_FIGURES = {"pes": ["real_work_vs_pes"]}
QUICK_AXES = {"fifo_depth": [1, 8, 64], "num_pes": [4, 16, 64],
              "spmat_sram_width_bits": [32, 64, 256], "index_bits": [2, 4, 8]}
QUICK_LAYERS = ["alex8", "nt_we"]

CAPTIONS = {
    "load_efficiency_vs_fifo": "Load efficiency (1 - idle PE cycles / PE cycles) against the "
                               "depth of each PE's activation FIFO (cf. the paper's Fig. 8).",
    "speedup_vs_pes": "Speedup (cycles at the fewest PEs / cycles) against the number of PEs "
                      "(cf. Fig. 11).",
    "real_work_vs_pes": "Real work (entries that are not fillers) / all entries processed, "
                        "against the number of PEs (cf. Fig. 12).",
    "energy_vs_sram_width": "Energy per layer against the width of the sparse-matrix SRAM "
                            "(cf. Fig. 9).",
    "fillers_vs_index_bits": "Filler entries / all entries against the width of the relative "
                             "row index.",
}


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


def sweep_figures(results: dict[str, list[dict[str, Any]]], opts: PaperOptions,
                  command: str) -> list[Any]:
    import tempfile
    from pathlib import Path

    from eie.report import Figure
    from eie.report.sim_figures import plot_figure

    figures = []
    with tempfile.TemporaryDirectory() as tmp:
        for study, (field, main_fig) in SWEEPS.items():
            for name in [main_fig, *EXTRA_FIGURES.get(study, [])]:
                path = Path(tmp) / f"{name}.png"
                if not plot_figure(results[study], name, path):
                    continue
                values = sorted({r["config"][field] for r in results[study]})
                caption = (f"{CAPTIONS[name]} Cycle-level simulation of random layers with the "
                           f"paper's densities (seed {opts.seed}), {field} in {values}, every other "
                           f"field at the paper's design ({PAPER_CONFIG.num_pes} PEs, FIFO "
                           f"{PAPER_CONFIG.fifo_depth}, {PAPER_CONFIG.clock_mhz:g} MHz). "
                           f"Produced by `{command}`.")
                figures.append(Figure(name, caption, path.read_bytes()))
    return figures


def beyond_the_paper(report: Report, opts: PaperOptions, command: str) -> None:
    """Structured sparsity (with block-CSC) and LLM-scale layers (SRAM-resident vs DRAM-streamed):
    the retrospective's questions, on the same simulator."""
    import tempfile
    from pathlib import Path

    from eie.report import Figure
    from eie.sim import llm_scale, structured

    report.add_heading("Beyond the paper: structured sparsity and LLM-scale layers")
    size = 256 if opts.quick else 1024
    srecs = structured.study(density=0.125, rows=size, cols=size, seed=opts.seed)
    report.add_table(Table(
        f"Structured vs unstructured pruning at equal density ({size}x{size}, density 0.125)",
        ["pattern", "load efficiency (%)", "max/mean PE work", "cycles", "energy (uJ)",
         "weight + index storage (kbit)", "index overhead (%)"],
        [[r["pattern"], 100 * r["load_efficiency"], r["imbalance"], r["cycles"],
          r["energy_uj"], r["storage_bits"] / 1e3, 100 * r["index_overhead"]] for r in srecs],
        note="Same normal weights and input (35% nonzero) for every pattern; 64 PEs, FIFO 8. "
             "block-csc: the block-pruned layer on a variant storing one 4-bit index per block "
             "of 4 weights (eie.sim.structured)."))
    layers = ({k: llm_scale.LAYERS[k] for k in ("smollm2.q_proj", "smollm2.gate_proj")}
              if opts.quick else llm_scale.LAYERS)
    densities = (0.1,) if opts.quick else (1.0, 0.1)
    lrecs = llm_scale.study(layers, densities, seed=opts.seed)
    report.add_table(Table(
        "LLM-scale layers, 4-bit codebooks: SRAM-resident vs DRAM-streamed",
        ["layer", "shape", "density", "on chip", "memory-bound", "resident (us)",
         "streamed (us)", "resident (uJ)", "streamed (uJ)"],
        [[r["layer"], "x".join(map(str, r["shape"])), r["density"], r["fits_on_chip"],
          r["memory_bound"], r["resident_latency_us"], r["streamed_latency_us"],
          r["resident_energy_uj"], r["streamed_energy_uj"]] for r in lrecs],
        note="SmolLM2-135M's layer shapes and a 4096x11008 layer, uniform random codes, dense "
             "signed inputs; streamed from one DDR3-1600 channel (12.8 GB/s, 20 pJ/bit) when "
             "the entries exceed 128 KB per PE (eie.sim.dram)."))
    with tempfile.TemporaryDirectory() as tmp:
        sp, lp = Path(tmp) / "structured.png", Path(tmp) / "llm.png"
        structured.plot(srecs, sp)
        llm_scale.plot(lrecs, lp)
        report.add_figure(Figure("structured_vs_unstructured",
                                 "Load efficiency, latency, energy and storage of structured "
                                 f"and unstructured pruning at equal density. Produced by "
                                 f"`{command}`.", sp.read_bytes()))
        report.add_figure(Figure("llm_resident_vs_streamed",
                                 "Latency and energy of LLM-scale layers, SRAM-resident vs "
                                 f"DRAM-streamed. Produced by `{command}`.", lp.read_bytes()))
    report.data["structured"] = srecs
    report.data["llm_scale"] = lrecs
    from eie.sim import real_layers

    if real_layers.available():
        rrecs = real_layers.imbalance_table(seed=opts.seed)
        report.add_table(Table(
            "Real layers (all-MiniLM-L6-v2, pruned to 10% and 4-bit shared by eie) vs synthetic "
            "twins",
            ["layer", "shape", "PE max/mean work, real", "synthetic", "load efficiency (%), real",
             "synthetic", "cycles, real", "synthetic", "SQNR (dB)"],
            [[r["layer"], "x".join(map(str, r["shape"])), r["real_pe_imbalance"],
              r["synthetic_pe_imbalance"], 100 * r["real_load_efficiency"],
              100 * r["synthetic_load_efficiency"], r["real_cycles"], r["synthetic_cycles"],
              r["real_sqnr_db"]] for r in rrecs],
            note="Real weights (magnitude pruning, 16-entry k-means codebook; no retraining), "
                 "synthetic inputs; the twin is uniform random at the same shape and density "
                 "(eie.sim.real_layers)."))
        report.data["real_layers"] = rrecs


def run_paper(opts: PaperOptions, out_dir: Any, progress: Any = None) -> Report:
    """Everything ``eie paper`` computes, as a Report (written by the caller)."""
    from eie.report import provenance

    prov = provenance(list(opts.command))
    command = prov["command"]
    report = Report("EIE, reproduced: simulation and this machine's CPU", provenance=prov)
    report.add_text(
        "The EIE paper (Han et al., ISCA 2016) evaluated a 64-PE accelerator on nine compressed "
        "fully connected layers. This report simulates that design cycle by cycle on random "
        "layers with the same shapes and densities, runs the same layers on this machine's CPU "
        "with eie's engine and with numpy's dense fp32 GEMV, sweeps the design space as the "
        "paper did, and breaks down one PE's power and area.")
    records = nine_layers(opts, progress)
    add_nine_layers(report, records, opts)
    report.add_heading("Design space")
    results = sweep_records(opts, out_dir, progress)
    for fig in sweep_figures(results, opts, command):
        report.add_figure(fig)
    report.data["sweeps"] = {k: [{"layer": r["layer"], "config": r["config"],
                                  "cycles": r["cycles"], "load_efficiency": r["load_efficiency"],
                                  "real_work_fraction": r["real_work_fraction"],
                                  "energy_pj": r["energy_pj"]} for r in v]
                             for k, v in results.items()}
    report.add_heading("Power and area (one PE and the chip)")
    pe_table, chip_table, bd = breakdown_tables()
    report.add_table(pe_table)
    report.add_table(chip_table)
    report.data["breakdown"] = bd
    beyond_the_paper(report, opts, command)
    report.data["options"] = {"seed": opts.seed, "quick": opts.quick, "threads": opts.threads,
                              "cpu_power_w": opts.cpu_power_w}
    return report
