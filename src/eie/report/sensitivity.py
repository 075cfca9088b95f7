"""The pruning-sensitivity figure (``eie sensitivity --plot``): accuracy against the density of
one pruned layer at a time, from ``eie.compress.sensitivity.scan``'s result (matplotlib, Agg)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from eie.compress.sensitivity import SensitivityResult


def plot_sensitivity(result: SensitivityResult, path: str | os.PathLike[str]) -> Path:
    """Accuracy against density, one line per layer, density axis logarithmic."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, curve in result.curves.items():
        ax.plot([d for d, _ in curve], [100 * a for _, a in curve], marker="o", label=name)
    ax.axhline(100 * result.reference_accuracy, color="gray", linestyle="--", label="dense")
    ax.set_xscale("log")
    ax.set_xlabel("density of the pruned layer (others dense)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("Pruning sensitivity, one layer at a time")
    ax.legend()
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
