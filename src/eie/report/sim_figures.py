"""Figures of the paper's design-space studies from sweep records (matplotlib, Agg backend).

Each figure plots one metric against one swept config field, one line per layer; a figure is
drawn only when the records vary that field. ``paper_figures`` writes every figure the records
support and returns their paths.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

Record = dict[str, Any]


def _filler_fraction(r: Record) -> float:
    fill = r["filler_entries"]
    return fill / (fill + r["macs"]) if fill + r["macs"] else 0.0


# name -> (x field, y label, y from records of one layer (sorted by x), log x, title)
FIGURES: dict[str, tuple[str, str, Callable[[list[Record]], list[float]], bool, str]] = {
    "load_efficiency_vs_fifo": (
        "fifo_depth", "load efficiency (fraction of PE cycles)", lambda rs: [r["load_efficiency"] for r in rs], True,
        "Load efficiency vs activation FIFO depth"),
    "speedup_vs_pes": (
        "num_pes", "speedup over the fewest PEs (x)",
        lambda rs: [rs[0]["cycles"] / r["cycles"] for r in rs], True,
        "Speedup vs number of PEs"),
    "real_work_vs_pes": (
        "num_pes", "real work / total work (fraction)", lambda rs: [r["real_work_fraction"] for r in rs],
        True, "Real work vs number of PEs"),
    "energy_vs_sram_width": (
        "spmat_sram_width_bits", "energy per layer (uJ)", lambda rs: [r["energy_pj"] * 1e-6 for r in rs],
        True, "Energy vs sparse-matrix SRAM width"),
    "fillers_vs_index_bits": (
        "index_bits", "filler entries / entries (fraction)", lambda rs: [_filler_fraction(r) for r in rs],
        False, "Fillers vs relative-index bits"),
    "energy_vs_codebook_bits": (
        "weight_bits", "energy per layer (uJ)", lambda rs: [r["energy_pj"] * 1e-6 for r in rs], False,
        "Energy vs codebook bits"),
}


# Axis labels with units for the swept fields.
XLABELS = {
    "fifo_depth": "activation FIFO depth (entries per PE)",
    "num_pes": "processing elements (count)",
    "spmat_sram_width_bits": "sparse-matrix SRAM width (bits)",
    "index_bits": "relative row index width (bits)",
    "weight_bits": "codebook index width (bits)",
}


def _series(records: Sequence[Record], field: str) -> dict[str, list[Record]]:
    """Records whose overrides vary ``field``, grouped by layer (and seed), sorted by it."""
    groups: dict[str, list[Record]] = defaultdict(list)
    for r in records:
        if field in r.get("overrides", {}):
            groups[f"{r['layer']}" + (f" s{r['seed']}" if r.get("seed") else "")].append(r)
    out = {}
    for name, rs in groups.items():
        rs.sort(key=lambda r: r["config"][field])
        if len({r["config"][field] for r in rs}) >= 2:
            out[name] = rs
    return out


def plot_figure(records: Sequence[Record], figure: str, path: str | os.PathLike[str]) -> bool:
    """Draw one of ``FIGURES``; False (and nothing written) if the records do not vary its field."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    field, ylabel, metric, logx, title = FIGURES[figure]
    series = _series(records, field)
    if not series:
        return False
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for name, rs in sorted(series.items()):
        ax.plot([r["config"][field] for r in rs], metric(rs), marker="o", label=name)
    if logx:
        ax.set_xscale("log", base=2)
    if figure == "speedup_vs_pes":
        ax.set_yscale("log", base=2)
    ax.set_xlabel(XLABELS.get(field, field))
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def paper_figures(records: Sequence[Record], outdir: str | os.PathLike[str]) -> list[Path]:
    """Every figure of ``FIGURES`` the records support, as PNG files in ``outdir``."""
    d = Path(outdir)
    d.mkdir(parents=True, exist_ok=True)
    written = []
    for name in FIGURES:
        p = d / f"{name}.png"
        if plot_figure(records, name, p):
            written.append(p)
    return written


def plot_paired_bars(labels: Sequence[str], series: dict[str, tuple[list[float], list[float]]],
                     names: tuple[str, str], path: str | os.PathLike[str], title: str) -> None:
    """One panel per metric (``series[metric] = (values of names[0], values of names[1])``),
    bars side by side per label, log y: e.g. SRAM-resident vs DRAM-streamed layers, or
    unstructured vs structured sparsity."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(series), figsize=(5.2 * len(series), 4.4), squeeze=False)
    xs = list(range(len(labels)))
    for ax, (metric, (a, b)) in zip(axes[0], series.items(), strict=True):
        ax.bar([x - 0.2 for x in xs], a, width=0.4, label=names[0])
        ax.bar([x + 0.2 for x in xs], b, width=0.4, label=names[1])
        ax.set_xticks(xs)
        ax.set_xticklabels(labels, rotation=45, ha="right", fontsize=7)
        ax.set_yscale("log")
        ax.set_ylabel(metric)
        ax.grid(True, axis="y", alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
