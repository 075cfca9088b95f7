"""The ``eie paper`` report: the nine benchmark layers' table, the design-space figures, the
power and area tables and the beyond-the-paper studies, laid out from the results
``eie.experiments.paper`` computes (nothing is computed here but geometric means)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from eie.report.document import Figure, Report, Table
from eie.sim import HardwareConfig

# The paper's design-space studies (section VI) and the figure each one feeds.
SWEEPS: dict[str, tuple[str, str]] = {
    "fifo": ("fifo_depth", "load_efficiency_vs_fifo"),
    "pes": ("num_pes", "speedup_vs_pes"),
    "sram": ("spmat_sram_width_bits", "energy_vs_sram_width"),
    "index": ("index_bits", "fillers_vs_index_bits"),
}
EXTRA_FIGURES = {"pes": ["real_work_vs_pes"]}

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


def nine_layer_table(records: list[dict[str, Any]], opts: Any, config: HardwareConfig
                     ) -> Table:
    """Table IV-like: simulated EIE beside the CPU engine and numpy, per layer, geo means."""
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
        note=(f"EIE: {config.num_pes} PEs, FIFO {config.fifo_depth}, "
              f"{config.clock_mhz:g} MHz, cycle-level simulation. CPU: batch 1, medians "
              f"interleaved in one process (eie.bench.timing), "
              f"threads={opts.threads or 'all'}. CPU energy is estimated as numpy "
              f"time x {opts.cpu_power_w:g} W (assumed, not measured). Random layers with the "
              f"paper's densities, seed {opts.seed}."))


def breakdown_tables(rows: list[dict[str, Any]], chip: dict[str, float], config: HardwareConfig
                     ) -> tuple[Table, Table]:
    """Power and area of one PE by module and of the chip (cf. the paper's Table II), from
    ``eie.sim.tables.table_ii`` and ``chip_summary``."""
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
    return pe_table, chip_table


def sweep_figures(results: dict[str, list[dict[str, Any]]], seed: int,
                  config: HardwareConfig, command: str) -> list[Figure]:
    """The design-space figures the sweep records support, captioned."""
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
                           f"paper's densities (seed {seed}), {field} in {values}, every other "
                           f"field at the paper's design ({config.num_pes} PEs, FIFO "
                           f"{config.fifo_depth}, {config.clock_mhz:g} MHz). "
                           f"Produced by `{command}`.")
                figures.append(Figure(name, caption, path.read_bytes()))
    return figures


def add_beyond_the_paper(report: Report, b: dict[str, Any], command: str) -> None:
    """Structured sparsity, LLM-scale layers and (when measured) real layers: tables and
    figures from ``eie.experiments.paper.beyond_the_paper``'s records."""
    from eie.report.sim_studies import plot_llm_scale, plot_structured

    report.add_heading("Beyond the paper: structured sparsity and LLM-scale layers")
    size, srecs, lrecs = b["size"], b["structured"], b["llm_scale"]
    report.add_table(Table(
        f"Structured vs unstructured pruning at equal density ({size}x{size}, density 0.125)",
        ["pattern", "load efficiency (%)", "max/mean PE work", "cycles", "energy (uJ)",
         "weight + index storage (kbit)", "index overhead (%)"],
        [[r["pattern"], 100 * r["load_efficiency"], r["imbalance"], r["cycles"],
          r["energy_uj"], r["storage_bits"] / 1e3, 100 * r["index_overhead"]] for r in srecs],
        note="Same normal weights and input (35% nonzero) for every pattern; 64 PEs, FIFO 8. "
             "block-csc: the block-pruned layer on a variant storing one 4-bit index per block "
             "of 4 weights (eie.sim.structured)."))
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
        plot_structured(srecs, sp)
        plot_llm_scale(lrecs, lp)
        report.add_figure(Figure("structured_vs_unstructured",
                                 "Load efficiency, latency, energy and storage of structured "
                                 f"and unstructured pruning at equal density. Produced by "
                                 f"`{command}`.", sp.read_bytes()))
        report.add_figure(Figure("llm_resident_vs_streamed",
                                 "Latency and energy of LLM-scale layers, SRAM-resident vs "
                                 f"DRAM-streamed. Produced by `{command}`.", lp.read_bytes()))
    report.data["structured"] = srecs
    report.data["llm_scale"] = lrecs
    rrecs = b.get("real_layers")
    if rrecs is not None:
        report.add_table(Table(
            "Real layers (all-MiniLM-L6-v2, pruned to 10% and 4-bit shared by eie; the EIE "
            "authors' dumps given with --dump) vs synthetic twins",
            ["layer", "shape", "PE max/mean work, real", "synthetic", "load efficiency (%), real",
             "synthetic", "cycles, real", "synthetic", "SQNR (dB)"],
            [[r["layer"], "x".join(map(str, r["shape"])), r["real_pe_imbalance"],
              r["synthetic_pe_imbalance"], 100 * r["real_load_efficiency"],
              100 * r["synthetic_load_efficiency"], r["real_cycles"], r["synthetic_cycles"],
              r["real_sqnr_db"]] for r in rrecs],
            note="MiniLM: real weights (magnitude pruning, 16-entry k-means codebook; no "
                 "retraining), synthetic inputs. Dumps: their own codes, activations and bias. "
                 "The twin is uniform random at the same shape and density "
                 "(eie.sim.real_layers)."))
        report.data["real_layers"] = rrecs


def paper_report(r: Any, opts: Any, config: HardwareConfig, prov: dict[str, Any]) -> Report:
    """The whole report from ``eie.experiments.paper.PaperResults``."""
    command = prov["command"]
    report = Report("EIE, reproduced: simulation and this machine's CPU", provenance=prov)
    report.add_text(
        "The EIE paper (Han et al., ISCA 2016) evaluated a 64-PE accelerator on nine compressed "
        "fully connected layers. This report simulates that design cycle by cycle on random "
        "layers with the same shapes and densities, runs the same layers on this machine's CPU "
        "with eie's engine and with numpy's dense fp32 GEMV, sweeps the design space as the "
        "paper did, and breaks down one PE's power and area.")
    report.add_heading("The nine benchmark layers")
    report.add_table(nine_layer_table(r.layers, opts, config))
    report.data["layers"] = r.layers
    report.add_heading("Design space")
    for fig in sweep_figures(r.sweeps, opts.seed, config, command):
        report.add_figure(fig)
    report.data["sweeps"] = {k: [{"layer": x["layer"], "config": x["config"],
                                  "cycles": x["cycles"], "load_efficiency": x["load_efficiency"],
                                  "real_work_fraction": x["real_work_fraction"],
                                  "energy_pj": x["energy_pj"]} for x in v]
                             for k, v in r.sweeps.items()}
    report.add_heading("Power and area (one PE and the chip)")
    pe_table, chip_table = breakdown_tables(r.pe_rows, r.chip, config)
    report.add_table(pe_table)
    report.add_table(chip_table)
    report.data["breakdown"] = {"pe": r.pe_rows, "chip": r.chip}
    add_beyond_the_paper(report, r.beyond, command)
    report.data["options"] = {"seed": opts.seed, "quick": opts.quick, "threads": opts.threads,
                              "cpu_power_w": opts.cpu_power_w}
    return report
