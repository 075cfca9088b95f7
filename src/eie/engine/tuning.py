"""The per-ISA tuning table: measured sparse/dense crossovers the layout choice reads.

``eie bench --tune`` times both CPU layouts over a weight-density grid on each ISA this CPU runs
and writes the densities from which the dense layout is faster (4-bit and 8-bit codes) into one
small JSON table (``eie/data/tuning.json`` by default; ``EIE_TUNING`` names another one to
read). ``layout.choose_layout`` takes the crossover of the ISA the kernels will run. ISAs the
table lacks fall back to the AVX2 figures in ``eie.engine.layout`` (said so in ``source``).
The history of the figures is in ``docs/benchmarks.md``.
"""

from __future__ import annotations

import functools
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from eie.errors import ConfigError

TABLE_PATH = Path(__file__).resolve().parents[1] / "data" / "tuning.json"
FORMAT = "eie-tuning"
KEYS = ("dense_crossover_4bit", "dense_crossover_8bit")


def table_path() -> Path:
    env = os.environ.get("EIE_TUNING")
    return Path(env) if env else TABLE_PATH


@functools.cache
def _load(path: str) -> dict[str, dict[str, Any]]:
    p = Path(path)
    try:
        data = json.loads(p.read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"{p}: not a readable tuning table ({e})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT \
            or not isinstance(data.get("isas"), dict):
        raise ConfigError(f"{p}: not an eie tuning table (expected format {FORMAT!r} and an "
                          "'isas' object)")
    for isa, entry in data["isas"].items():
        for k in KEYS:
            v = entry.get(k) if isinstance(entry, dict) else None
            if not isinstance(v, int | float) or not 0.0 <= float(v) <= 1.0:
                raise ConfigError(f"{p}: isas.{isa}.{k} should be a density in [0, 1], "
                                  f"found {v!r}")
    return data["isas"]


def crossover(isa: str, codebook_len: int) -> float:
    """The weight density from which the dense layout is chosen on ``isa``."""
    from eie.engine import layout

    entry = _load(str(table_path())).get(isa)
    if entry is None:
        return (layout.DENSE_CROSSOVER_DENSITY if codebook_len <= 16
                else layout.DENSE8_CROSSOVER_DENSITY)
    return float(entry[KEYS[0] if codebook_len <= 16 else KEYS[1]])


def reload() -> None:
    """Forget the cached table (after writing a new one)."""
    _load.cache_clear()


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


def measure(isa: str, quick: bool = False, seed: int = 0, budget_s: float = 0.15,
            log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Time both layouts (one thread, calling-thread CPU time, interleaved) over a density grid
    on ``isa``; returns the table entry with the measured ratios."""
    from eie import _core
    from eie.bench.timing import interleaved_medians
    from eie.formats.benchmark_layers import random_codebook

    rng = np.random.default_rng(seed)
    entry: dict[str, Any] = {"ratios": {}}
    specs: tuple[tuple[str, tuple[int, int], int, list[float]], ...] = (
        (KEYS[0], (4096, 9216), 16, [0.03, 0.05, 0.08, 0.11, 0.15, 0.2, 0.25, 0.3]),
        (KEYS[1], (2048, 4096), 64, [0.2, 0.3, 0.4, 0.45, 0.5, 0.6]))
    for key, (rows, cols), k, densities in specs:
        if quick:
            rows, cols, densities = rows // 16, cols // 16, densities[::3]
        cb = random_codebook(k)
        u = rng.random((rows, cols), dtype=np.float32)
        vals = rng.integers(1, k, (rows, cols), dtype=np.uint8)
        worst: list[float] = []
        for d in densities:
            codes = np.where(u < d, vals, np.uint8(0)).astype(np.uint8)
            lays = {n: _core.build_cpu_layout(codes, cb, n, 1) for n in ("sparse", "dense")}
            r_min = np.inf
            for ad in (0.35, 1.0):
                x = np.where(rng.random(cols) < ad, rng.random(cols, dtype=np.float32) + 0.05,
                             0).astype(np.float32).reshape(1, -1)
                y = np.empty((1, rows), np.float32)
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
    return entry


def write(path: Path, isas: dict[str, dict[str, Any]], command: str, cpu: str) -> Path:
    """Merge the measured ISAs into the table at ``path`` (kept ISAs stay) and write it
    atomically."""
    from eie._io import write_atomic

    old: dict[str, Any] = {}
    if path.is_file():
        old = dict(_load(str(path)))
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    for isa, entry in isas.items():
        old[isa] = {**entry, "cpu": cpu, "command": command, "date": when}
    text = json.dumps({"format": FORMAT, "isas": old}, indent=1, sort_keys=True) + "\n"
    write_atomic(path, text.encode())
    reload()
    return path
