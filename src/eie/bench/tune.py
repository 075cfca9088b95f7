"""``eie bench --tune``'s measurements: what decides each measured tuning constant
(``eie.engine.tuning.MEASURED``) timed on one ISA, one thread, calling-thread CPU time,
contenders interleaved (``eie.bench.timing``). ``measure`` returns the table entry, ratios
included; ``eie.engine.tuning.write`` merges it into a table. How each constant is measured is
described in ``eie.engine.tuning``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from eie import _core
from eie.bench.timing import interleaved_medians
from eie.engine import isa_check, tuning
from eie.formats.benchmark_layers import random_codebook


def _crossing(densities: list[float], ratio: list[float]) -> float:
    """The density where sparse/dense time ratio first reaches 1 (linear between grid points);
    the grid's ends when it never or always does."""
    for i, r in enumerate(ratio):
        if r >= 1.0:
            if i == 0:
                return densities[0]
            d0, d1, r0 = densities[i - 1], densities[i], ratio[i - 1]
            return d0 + (d1 - d0) * (1.0 - r0) / (r - r0)
    return 1.0


def _codes(rng: np.random.Generator, rows: int, cols: int, k: int, d: float
           ) -> np.ndarray:
    u = rng.random((rows, cols), dtype=np.float32)
    vals = rng.integers(1, k, (rows, cols), dtype=np.uint8)
    return np.where(u < d, vals, np.uint8(0)).astype(np.uint8)


def _x(rng: np.random.Generator, batch: int, cols: int, ad: float) -> np.ndarray:
    return np.where(rng.random((batch, cols)) < ad, rng.random((batch, cols), dtype=np.float32)
                    + 0.05, 0).astype(np.float32)


def _with(isa: str, values: dict[str, float], fn: Callable[[], object]) -> Callable[[], object]:
    """``fn`` run with some of ``isa``'s core constants replaced for the call."""

    def run() -> object:
        saved = _core.tuning(isa)
        _core.set_tuning(isa, values)
        try:
            return fn()
        finally:
            _core.set_tuning(isa, saved)
    return run


def _measure_crossovers(isa: str, quick: bool, rng: np.random.Generator, budget_s: float,
                        entry: dict[str, Any], log: Callable[[str], None] | None) -> None:
    specs: tuple[tuple[str, tuple[int, int], int, list[float]], ...] = (
        (tuning.KEYS[0], (4096, 9216), 16, [0.03, 0.05, 0.08, 0.11, 0.15, 0.2, 0.25, 0.3]),
        (tuning.KEYS[1], (2048, 4096), 64, [0.2, 0.3, 0.4, 0.45, 0.5, 0.6]))
    for key, (rows, cols), k, densities in specs:
        if quick:
            rows, cols, densities = rows // 16, cols // 16, densities[::3]
        cb = random_codebook(k)
        worst: list[float] = []
        for d in densities:
            codes = _codes(rng, rows, cols, k, d)
            lays = {n: _core.build_cpu_layout(codes, cb, n, 1) for n in ("sparse", "dense")}
            r_min = np.inf
            for ad in (0.35, 1.0):
                x, y = _x(rng, 1, cols, ad), np.empty((1, rows), np.float32)
                fns: dict[str, Callable[[], object]] = {
                    n: functools.partial(L.run_f32, x, y, None, False, 1, isa)
                    for n, L in lays.items()}
                _, cpu = interleaved_medians(fns, budget_s)
                ratio = cpu["sparse"] / cpu["dense"]
                entry["ratios"].setdefault(key, []).append(
                    f"weights {d:g} activations {ad:g}: sparse/dense {ratio:.3f}")
                r_min = min(r_min, ratio)
            worst.append(float(r_min))  # dense only when it wins at both activation densities
            if log is not None:
                log(f"  {isa} {key} density {d:g}: sparse/dense {r_min:.2f}")
        entry[key] = round(_crossing(densities, worst), 3)


def _measure_row_view(isa: str, quick: bool, rng: np.random.Generator, budget_s: float,
                      entry: dict[str, Any], log: Callable[[str], None] | None) -> None:
    rows, cols = (600, 4096) if not quick else (150, 1024)
    fracs = [0.3, 0.5, 0.6, 0.7, 0.8, 1.0] if not quick else [0.5, 1.0]
    lay = _core.build_cpu_layout(_codes(rng, rows, cols, 16, 0.1), random_codebook(16),
                                 "sparse", 1)
    ratios: list[float] = []
    if not lay.has_row_view:  # row_view_max_rows excludes the grid's shape: keep the value
        entry["row_view_min_act"] = tuning.constants(isa)["row_view_min_act"]
        return
    for ad in fracs:
        x, y = _x(rng, 1, cols, ad), np.empty((1, rows), np.float32)
        call = functools.partial(lay.run_f32, x, y, None, False, 1, isa)
        fns = {"rows": _with(isa, {"row_view_min_act": 0.0}, call),
               "columns": _with(isa, {"row_view_min_act": 1e9}, call)}
        _, cpu = interleaved_medians(fns, budget_s)
        ratios.append(cpu["columns"] / cpu["rows"])
        entry["ratios"].setdefault("row_view_min_act", []).append(
            f"{rows}x{cols} 10% activations {ad:g}: columns/rows {ratios[-1]:.3f}")
        if log is not None:
            log(f"  {isa} row view, activations {ad:g}: columns/rows {ratios[-1]:.2f}")
    entry["row_view_min_act"] = round(_crossing(fracs, ratios), 3) if max(ratios) >= 1 else 2.0


def _measure_batch_factors(isa: str, quick: bool, rng: np.random.Generator, budget_s: float,
                           entry: dict[str, Any], log: Callable[[str], None] | None) -> None:
    """factor = (batch time / loop time) x (summed / union active columns), medians over the
    grid; the dense factor is divided by sqrt(batch)."""
    shapes = {"sparse": ((4096, 9216), 0.09), "dense": ((4096, 4096), 1.0)}
    groups: dict[str, tuple[str, list[int]]] = {
        "sparse_batch_factor": ("sparse", [4, 8]), "sparse_batch_factor_wide": ("sparse", [16]),
        "dense_batch_factor": ("dense", [4, 8, 16])}
    cb = random_codebook(16)
    lays: dict[str, Any] = {}
    for kind, ((rows, cols), d) in shapes.items():
        if quick:
            rows, cols = rows // 16, cols // 16
        lays[kind] = _core.build_cpu_layout(_codes(rng, rows, cols, 16, d), cb, kind, 1)
    batch_only = {"sparse_batch_factor": 0.0, "sparse_batch_factor_wide": 0.0,
                  "dense_batch_factor": 0.0}
    loop_only = {k: 1000.0 for k in batch_only}
    for key, (kind, batches) in groups.items():
        lay = lays[kind]
        found: list[float] = []
        for batch in (batches[-1:] if quick else batches):
            for ad in (0.35, 1.0):
                x = _x(rng, batch, lay.cols, ad)
                y = np.empty((batch, lay.rows), np.float32)
                each = int(np.count_nonzero(x))
                union = int(np.count_nonzero(np.any(x != 0, axis=0)))
                call = functools.partial(lay.run_f32, x, y, None, False, 1, isa)
                fns = {"batch": _with(isa, batch_only, call), "loop": _with(isa, loop_only, call)}
                _, cpu = interleaved_medians(fns, budget_s)
                f = cpu["batch"] / cpu["loop"] * each / max(union, 1)
                if kind == "dense":
                    f /= math.sqrt(batch)
                found.append(f)
                entry["ratios"].setdefault(key, []).append(
                    f"{lay.rows}x{lay.cols} batch {batch} activations {ad:g}: batch/loop "
                    f"{cpu['batch'] / cpu['loop']:.3f}, summed/union {each / max(union, 1):.2f}")
        entry[key] = round(float(np.median(found)), 3)
        if log is not None:
            log(f"  {isa} {key}: {entry[key]:.2f}")


def measure(isa: str, quick: bool = False, seed: int = 0, budget_s: float = 0.15,
            log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Time what decides each measured constant (``MEASURED``; one thread, calling-thread CPU
    time, contenders interleaved) on ``isa``; returns the table entry with the ratios."""
    isa_check.engine_isa()  # the table is handed to the core before the core is timed
    rng = np.random.default_rng(seed)
    entry: dict[str, Any] = {"ratios": {}}
    _measure_crossovers(isa, quick, rng, budget_s, entry, log)
    _measure_row_view(isa, quick, rng, budget_s, entry, log)
    _measure_batch_factors(isa, quick, rng, budget_s, entry, log)
    return entry
