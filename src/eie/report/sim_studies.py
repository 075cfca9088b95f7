"""The simulator's studies laid out: structured vs unstructured sparsity (``eie.sim.structured``)
and LLM-scale layers resident vs streamed (``eie.sim.llm_scale``), as plain-text tables and
figures (matplotlib, Agg backend), from the studies' records.

>>> rec = {"pattern": "n:m", "load_efficiency": 0.9, "imbalance": 1.1, "cycles": 900,
...        "energy_uj": 0.5, "storage_bits": 2000, "index_overhead": 0.5, "spmat_sram_um2": 10}
>>> print(structured_table([rec]).splitlines()[1])
n:m              0.900  1.100     900     0.500          2.0     0.500         10
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from eie.report.sim_figures import plot_paired_bars
from eie.report.text_table import text_table

Record = dict[str, Any]


def structured_table(records: Sequence[Record]) -> str:
    """One line per pattern: load efficiency, imbalance, cycles, energy, storage, SRAM area."""
    return text_table([
        ("pattern", 13, "s", "pattern"), ("load eff", 8, ".3f", "load_efficiency"),
        ("imbal.", 6, ".3f", "imbalance"), ("cycles", 7, "d", "cycles"),
        ("energy uJ", 9, ".3f", "energy_uj"),
        ("storage kbit", 12, ".1f", lambda r: r["storage_bits"] / 1e3),
        ("index ovh", 9, ".3f", "index_overhead"), ("spmat um2", 10, ".0f", "spmat_sram_um2")],
        records)


def llm_scale_table(records: Sequence[Record]) -> str:
    """One line per (layer, density): on chip or not, the bound, latency and energy both ways."""
    return text_table([
        ("layer", 24, "s", "layer"), ("density", 7, ".2f", "density"),
        ("on chip", 7, "s", lambda r: str(r["fits_on_chip"])),
        ("bound", 7, "s", lambda r: "memory" if r["memory_bound"] else "compute"),
        ("resident us", 11, ".1f", "resident_latency_us"),
        ("streamed us", 11, ".1f", "streamed_latency_us"),
        ("resident uJ", 11, ".2f", "resident_energy_uj"),
        ("streamed uJ", 11, ".2f", "streamed_energy_uj")], records)


def plot_structured(records: Sequence[Record], path: str | os.PathLike[str]) -> None:
    """Structured vs unstructured: load efficiency, latency, energy, storage, per pattern."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [("load_efficiency", "load efficiency"), ("latency_us", "latency (us)"),
               ("energy_uj", "energy (uJ)"), ("storage_bits", "weight + index storage (bits)")]
    fig, axes = plt.subplots(1, len(metrics), figsize=(16, 3.8))
    names = [r["pattern"] for r in records]
    for ax, (key, label) in zip(axes, metrics, strict=True):
        ax.bar(names, [r[key] for r in records], color="tab:blue")
        ax.set_ylabel(label)
        ax.tick_params(axis="x", rotation=40, labelsize=8)
        ax.grid(True, axis="y", alpha=0.3)
    fig.suptitle(f"Structured vs unstructured sparsity on EIE (density "
                 f"{records[0]['density']:.3f}, 64 PEs)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_llm_scale(records: Sequence[Record], path: str | os.PathLike[str]) -> None:
    """Latency and energy per (layer, density), SRAM-resident beside DRAM-streamed."""
    labels = [f"{r['layer'].replace('smollm2.', '')} d={r['density']:g}" for r in records]
    plot_paired_bars(labels, {
        "latency (us)": ([r["resident_latency_us"] for r in records],
                         [r["streamed_latency_us"] for r in records]),
        "energy (uJ)": ([r["resident_energy_uj"] for r in records],
                        [r["streamed_energy_uj"] for r in records]),
    }, ("SRAM-resident", "DRAM-streamed"), path,
        "LLM-scale layers on EIE (64 PEs, 4-bit codebooks)")
