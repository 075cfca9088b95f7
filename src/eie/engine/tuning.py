"""The engine's tuning constants, per ISA, in one table: ``eie/data/tuning.json``.

The table (``EIE_TUNING`` names another one) holds a ``defaults`` entry with every constant, an
``isas`` entry per ISA (the fallback for CPUs the table has not measured) and a ``cpus`` entry
per measured CPU (``cpu_key()``: vendor/family/model, from ``/proc/cpuinfo``) holding, per ISA,
what ``eie bench --tune`` measured there. An ISA's constants on this CPU are the defaults
overridden by its ``isas`` entry, then by this CPU's entry for it: one ISA costs differently on
different cores (Zen 4 runs AVX-512 gathers and scatters slowly, and the dense 4-bit layout
there wins from 4% weights against 10% on a Xeon; ``docs/benchmarks-log.md``). It is read once
(``constants``) and the core's constants are handed to the C++ engine (``apply``, when the
process ISA is resolved: ``eie.engine.isa_check``), so no constant lives in the kernels' code.
The measuring is ``eie.bench.tune`` (above the engine); ``write`` merges what it measured into
a table. The history of the figures is in ``docs/benchmarks-log.md``.

The constants (``CONSTANTS``) and how ``--tune`` measures them (``MEASURED``):

- ``dense_crossover_4bit`` / ``dense_crossover_8bit``: the weight density from which
  ``layout="auto"`` picks the dense layout over the sparse one (Python side,
  ``layout.choose_layout``). Measured: both layouts timed over a density grid, 35% and 100%
  activations; the density where sparse/dense time first reaches 1 at both.
- ``row_view_min_act``: the fraction of nonzero activations from which a batch-1 multiply of a
  sparse layout with a row view walks the rows. Measured: row view forced on and off over an
  activation grid on a 600x4096 10% layer; the fraction where columns/rows first reaches 1.
- ``sparse_batch_factor`` (batch <= 8), ``sparse_batch_factor_wide`` (9..16),
  ``dense_batch_factor`` (times sqrt(batch)): a batch of 2..16 runs as a loop of batch-1
  multiplies when the inputs' own active columns, summed, are fewer than factor x their union.
  Measured: batch kernel and loop forced in turn; factor = (batch time / loop time) x (summed /
  union active columns), the factor at which both cost the same.
- ``batch_twin_factor``, ``batch_twin_max_density``: a dense layout built with ``"auto"`` for a
  pruned layer of at most ``batch_twin_max_density`` weights also holds the layer's sparse row
  view (``CpuLayout.has_batch_twin``), and a batch whose inputs' active columns, summed, reach
  ``batch_twin_factor`` x density x cols runs on it (dense inputs: batch >= factor x density).
  Fitted by hand on 4096x4096, 1000x4096 and 8791x600 at 20-50% weights, batch 1..16
  (``docs/benchmarks-log.md``); ``--tune`` does not rewrite them.
- ``rowwise_batch_min_act``: ``spmv`` with ``layout="auto"`` runs a batch of 2..16 on a
  dense 4-bit layer's rowwise layout (built on first use beside the dense one: the layer's
  codes held twice) when at least this fraction of the inputs is nonzero; above 1: never (the
  default). Fitted by hand where the rowwise kernel beats the dense batch path with dense
  inputs (Zen 4, AVX-512: 1.2-1.8x at batch 2..8; ``docs/benchmarks-log.md``); ``--tune`` does
  not rewrite it.
- ``zero_skip_min_level``: the LLM runtime moves a Linear whose input is thresholded to the
  zero-skipping (colrow) layout when the allocated fraction of zeros reaches this level, and
  keeps the rowwise one below it; above 1: never (``eie.llm.engine_linear``). Fitted by hand on
  SmolLM2's decode (``eie bench-llm --sparsity``: the 120 Linear calls replayed on the inputs
  a decode gave them): Xeon AVX-512 0.25 (1.25x at 30%); AVX2 0.6 (Zen 4: colrow slower at
  every level up to 50%); Zen 4 AVX-512 2.0, never (the decode's Linear time 0.68-0.73x at
  30-35% with every layer from 25% on colrow, 0.93x at 50% with those from 60%);
  ``--tune`` does not rewrite it.
- ``inline_work``, ``min_split_rows``, ``row_view_max_rows``, ``rowwise_tasks_per_thread``,
  ``split_chunks_per_thread``: thread and layout-shape thresholds kept at their documented
  defaults (their measurements need an idle second core: see the log); ``--tune`` does not
  rewrite them.
"""

from __future__ import annotations

import functools
import json
import math
import os
import time
from pathlib import Path
from typing import Any

from eie.errors import ConfigError

TABLE_PATH = Path(__file__).resolve().parents[1] / "data" / "tuning.json"
FORMAT = "eie-tuning"
KEYS = ("dense_crossover_4bit", "dense_crossover_8bit")
"""The layout crossovers (Python side)."""
CORE_KEYS = ("inline_work", "min_split_rows", "row_view_max_rows", "row_view_min_act",
             "sparse_batch_factor", "sparse_batch_factor_wide", "dense_batch_factor",
             "rowwise_tasks_per_thread", "split_chunks_per_thread", "batch_twin_factor",
             "batch_twin_max_density")
"""The constants handed to the C++ engine (``csrc/engine/tuning.h``)."""
POLICY_KEYS = ("rowwise_batch_min_act", "zero_skip_min_level")
"""Other Python-side constants (``spmv``'s choice of layout per call; the LLM runtime's choice
of the zero-skipping layout for thresholded Linear inputs)."""
CONSTANTS = KEYS + CORE_KEYS + POLICY_KEYS
MEASURED = (*KEYS, "row_view_min_act", "sparse_batch_factor", "sparse_batch_factor_wide",
            "dense_batch_factor")
_INTEGER = {"min_split_rows", "row_view_max_rows", "rowwise_tasks_per_thread",
            "split_chunks_per_thread"}
_RANGE: dict[str, tuple[float, float]] = {
    "dense_crossover_4bit": (0.0, 1.0), "dense_crossover_8bit": (0.0, 1.0),
    "inline_work": (0.0, 1e12), "min_split_rows": (32, 1 << 20),
    "row_view_max_rows": (0, 1 << 20), "row_view_min_act": (0.0, 1e9),
    "sparse_batch_factor": (0.0, 1000.0), "sparse_batch_factor_wide": (0.0, 1000.0),
    "dense_batch_factor": (0.0, 1000.0), "rowwise_tasks_per_thread": (1, 1024),
    "split_chunks_per_thread": (1, 1024), "batch_twin_factor": (0.0, 1e6),
    "batch_twin_max_density": (0.0, 1.0), "rowwise_batch_min_act": (0.0, 1e9),
    "zero_skip_min_level": (0.0, 1e9)}
BUILTIN: dict[str, float] = {
    "dense_crossover_4bit": 0.21, "dense_crossover_8bit": 0.45, "inline_work": 20000.0,
    "min_split_rows": 1024, "row_view_max_rows": 2048, "row_view_min_act": 0.7,
    "sparse_batch_factor": 2.4, "sparse_batch_factor_wide": 3.7, "dense_batch_factor": 1.6,
    "rowwise_tasks_per_thread": 8, "split_chunks_per_thread": 4, "batch_twin_factor": 16.0,
    "batch_twin_max_density": 0.35, "rowwise_batch_min_act": 2.0, "zero_skip_min_level": 0.4}
"""What a table without a ``defaults`` entry falls back to (the shipped table's defaults)."""


def table_path() -> Path:
    env = os.environ.get("EIE_TUNING")
    return Path(env) if env else TABLE_PATH


def _check_value(where: str, key: str, v: object) -> float:
    lo, hi = _RANGE[key]
    if key in KEYS:
        if not isinstance(v, int | float) or isinstance(v, bool) or not lo <= float(v) <= hi:
            raise ConfigError(f"{where}.{key} should be a density in [0, 1], found {v!r}")
        return float(v)
    if key in _INTEGER:
        if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
            raise ConfigError(f"{where}.{key} should be an integer in [{lo:g}, {hi:g}], "
                              f"found {v!r}")
        return v
    if not isinstance(v, int | float) or isinstance(v, bool) or not math.isfinite(v) \
            or not lo <= float(v) <= hi:
        raise ConfigError(f"{where}.{key} should be a number in [{lo:g}, {hi:g}], found {v!r}")
    return float(v)


@functools.cache
def _load(path: str) -> dict[str, Any]:
    p = Path(path)
    try:
        data = json.loads(p.read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"{p}: not a readable tuning table ({e})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT \
            or not isinstance(data.get("isas"), dict):
        raise ConfigError(f"{p}: not an eie tuning table (expected format {FORMAT!r} and an "
                          "'isas' object)")
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict):
        raise ConfigError(f"{p}: defaults should be an object, found {type(defaults).__name__}")
    for k, v in defaults.items():
        if k not in CONSTANTS:
            raise ConfigError(f"{p}: defaults.{k} is not a tuning constant (expected one of "
                              f"{', '.join(CONSTANTS)})")
        _check_value(f"{p}: defaults", k, v)
    for isa, entry in data["isas"].items():
        if not isinstance(entry, dict):
            raise ConfigError(f"{p}: isas.{isa} should be an object")
        for k in KEYS:
            _check_value(f"{p}: isas.{isa}", k, entry.get(k))
        for k in CORE_KEYS + POLICY_KEYS:
            if k in entry:
                _check_value(f"{p}: isas.{isa}", k, entry[k])
    cpus = data.get("cpus", {})
    if not isinstance(cpus, dict):
        raise ConfigError(f"{p}: cpus should be an object, found {type(cpus).__name__}")
    for key, per_isa in cpus.items():
        if not isinstance(per_isa, dict):
            raise ConfigError(f"{p}: cpus.{key} should be an object")
        for isa, entry in per_isa.items():
            if not isinstance(entry, dict):
                raise ConfigError(f"{p}: cpus.{key}.{isa} should be an object")
            for k in CONSTANTS:
                if k in entry:
                    _check_value(f"{p}: cpus.{key}.{isa}", k, entry[k])
    return data


def cpu_key() -> str:
    """This CPU as the table's ``cpus`` keys name it, ``vendor/family/model`` (e.g.
    ``AuthenticAMD/25/17``, a Zen 4), or "" where ``/proc/cpuinfo`` does not say."""
    return _cpu_key()


@functools.cache
def _cpu_key() -> str:
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if not line.strip():
                    break  # the first processor says it for all
                name, _, value = line.partition(":")
                fields[name.strip()] = value.strip()
    except OSError:
        return ""
    parts = (fields.get("vendor_id", ""), fields.get("cpu family", ""), fields.get("model", ""))
    return "/".join(parts) if all(parts) else ""


_stale = {"core": False}
"""True after ``reload`` while the core still holds the previous table's constants."""


def _merged(data: dict[str, Any], isa: str) -> dict[str, float]:
    out = {**BUILTIN, **data.get("defaults", {})}
    for entry in (data["isas"].get(isa, {}), data.get("cpus", {}).get(cpu_key(), {}).get(isa, {})):
        out.update({k: entry[k] for k in CONSTANTS if k in entry})
    return out


def constants(isa: str) -> dict[str, float]:
    """Every tuning constant of ``isa`` on this CPU: the table's defaults, then its ``isa``
    entry, then this CPU's entry for ``isa`` (``cpus``)."""
    data = _load(str(table_path()))
    if _stale["core"]:
        _hand_over(data)
    return _merged(data, isa)


def crossover(isa: str, codebook_len: int) -> float:
    """The weight density from which the dense layout is chosen on ``isa``."""
    return float(constants(isa)[KEYS[0] if codebook_len <= 16 else KEYS[1]])


def apply() -> None:
    """Hand every ISA's core constants to the C++ engine (``_core.set_tuning``)."""
    _hand_over(_load(str(table_path())))


def _hand_over(data: dict[str, Any]) -> None:
    from eie import _core

    for isa in ("scalar", "avx2", "avx512"):
        c = _merged(data, isa)
        _core.set_tuning(isa, {k: c[k] for k in CORE_KEYS})
    _stale["core"] = False


def reload() -> None:
    """Forget the cached table (after writing a new one) and hand the new one to the core; a
    table that does not load stays pending, refused by the next read (``constants``)."""
    _load.cache_clear()
    _stale["core"] = True
    try:
        apply()
    except ConfigError:
        pass


def write(path: Path, isas: dict[str, dict[str, Any]], command: str, cpu: str,
          key: str | None = None) -> Path:
    """Merge the ISAs measured on the CPU ``key`` (default: this one, ``cpu_key``; ``cpu`` is its
    model name) into the table at ``path`` and write it atomically: they become that CPU's
    ``cpus`` entry, and an ISA's fallback (``isas``) where the table has none; other CPUs,
    fallbacks and defaults stay. Where the CPU has no key, the measured ISAs replace the
    fallbacks."""
    from eie._io import write_atomic

    old: dict[str, Any] = {"format": FORMAT, "isas": {}}
    if path.is_file():
        old = json.loads(json.dumps(_load(str(path))))
    key = cpu_key() if key is None else key
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    for isa, entry in isas.items():
        record = {**entry, "cpu": cpu, "command": command, "date": when}
        if key:
            old.setdefault("cpus", {}).setdefault(key, {})[isa] = record
        if not key or isa not in old["isas"]:
            old["isas"][isa] = record
    text = json.dumps(old, indent=1, sort_keys=True) + "\n"
    write_atomic(path, text.encode())
    reload()
    return path
