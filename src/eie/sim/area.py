"""Area model: a sourced table of the paper's Table II per-PE areas (45 nm), scaled by the
config's storage sizes (Accelergy style, like the energy table).

The table (default ``eie/sim/data/area_45nm.yaml``; ``load_area_table(path)`` reads another of
the same layout) gives each module's area with the quantity it scales with and the value that
quantity had where the area was reported (docs/simulator.md, "Area model"):

- sparse-matrix read unit: linear in ``spmat_sram_kb`` (128 KB in the paper; the SRAM is 93% of
  the unit's area class "memory", and Cacti-style area is about linear in capacity);
- pointer read unit: linear in ``ptr_sram_kb`` (32 KB);
- activation read/write unit: linear in stored bits, 2 KB SRAM + two 64 x 16-bit register files;
- activation queue: linear in ``fifo_depth`` (8);
- arithmetic unit: fixed (a 16-entry codebook and one multiplier);
- filler cells: the same 3.76% of the placed area as in the paper;
- chip: ``num_pes`` PEs plus ``lnzd_nodes`` LNZD nodes of 189 um^2 each (CCU logic beyond the
  tree is not reported by the paper and not modelled).

>>> b = breakdown()
>>> b.pe_total_um2, round(b.chip_mm2, 2)
(638024.0, 40.84)
>>> load_area_table().module("pointer read").scales_with
'ptr_sram_kb'
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from eie._config import Integer, Number, check_fields, from_mapping, loader, read_mapping, rule
from eie.errors import ConfigError
from eie.sim.ccu import lnzd_nodes
from eie.sim.config import HardwareConfig

DEFAULT_TABLE = "data/area_45nm.yaml"


def act_storage_bits(c: HardwareConfig) -> int:
    """Bits the activation read/write unit stores: its SRAM and two register files."""
    return c.act_sram_bytes * 8 + 2 * c.act_regfile_entries * c.act_bits


SCALES: dict[str, Callable[[HardwareConfig], float]] = {
    "fifo_depth": lambda c: c.fifo_depth,
    "ptr_sram_kb": lambda c: c.ptr_sram_kb,
    "spmat_sram_kb": lambda c: c.spmat_sram_kb,
    "act_storage_bits": act_storage_bits,
}
"""What a module's area may scale with (the table's ``scales_with``)."""


@dataclass(frozen=True)
class AreaEntry:
    """One area with its source; with ``scales_with``, linear in that quantity around
    ``reference`` (the quantity's value where the area was reported)."""

    area_um2: float = field(metadata=rule(Number(0.0, lo_inclusive=True)))
    source: str
    scales_with: str | None = None
    """A key of ``SCALES``, or None: a fixed area."""
    reference: float | None = None

    def __post_init__(self) -> None:
        check_fields(self)
        object.__setattr__(self, "area_um2", float(self.area_um2))
        if not isinstance(self.source, str) or not self.source.strip():
            raise ConfigError(f"source should be a non-empty string, found {self.source!r}")
        if self.scales_with is None:
            if self.reference is not None:
                raise ConfigError("reference is only meaningful with scales_with")
            return
        if self.scales_with not in SCALES:
            raise ConfigError(f"scales_with should be one of {sorted(SCALES)}, found "
                              f"{self.scales_with!r}")
        Number(0.0).check("reference", self.reference)

    def scaled(self, config: HardwareConfig) -> float:
        if self.scales_with is None or self.reference is None:
            return self.area_um2
        return self.area_um2 * (SCALES[self.scales_with](config) / self.reference)


def _load_entries(value: Any, where: str) -> dict[str, AreaEntry]:
    if not isinstance(value, Mapping) or not value:
        raise ConfigError(f"{where}: pe_modules should be a non-empty mapping of module: entry")
    return {str(k): from_mapping(AreaEntry, v, f"{where}: pe_modules.{k}")
            for k, v in value.items()}


@dataclass(frozen=True)
class AreaTable:
    """Areas per PE module, filler cells and LNZD node, with provenance."""

    name: str
    version: int = field(metadata=rule(Integer(0, 1 << 31)))
    pe_total_um2: float = field(metadata=rule(Number(0.0)))
    """The source's PE total: the modules plus the filler must add up to it."""
    pe_modules: Mapping[str, AreaEntry] = field(metadata=loader(_load_entries))
    filler: AreaEntry = field(metadata=loader(
        lambda v, where: from_mapping(AreaEntry, v, f"{where}: filler")))
    """Filler cells: kept at their fraction of the placed area."""
    lnzd_node: AreaEntry = field(metadata=loader(
        lambda v, where: from_mapping(AreaEntry, v, f"{where}: lnzd_node")))

    def __post_init__(self) -> None:
        check_fields(self)
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"name should be a non-empty string, found {self.name!r}")
        for what, e in (("filler", self.filler), ("lnzd_node", self.lnzd_node)):
            if not isinstance(e, AreaEntry) or e.scales_with is not None:
                raise ConfigError(f"{what} should be a fixed area entry, found {e!r}")
        total = sum(e.area_um2 for e in self.pe_modules.values()) + self.filler.area_um2
        if abs(total - self.pe_total_um2) > 0.5:
            raise ConfigError(f"the modules and the filler add up to {total:g} um^2, but "
                              f"pe_total_um2 is {self.pe_total_um2:g}")

    def module(self, name: str) -> AreaEntry:
        try:
            return self.pe_modules[name]
        except KeyError:
            raise ConfigError(f"area table {self.name!r} v{self.version} has no module {name!r}; "
                              f"it has {list(self.pe_modules)}") from None


def load_area_table(path: str | os.PathLike[str] | None = None) -> AreaTable:
    """The packaged 45 nm table, or a YAML file of the same layout."""
    if path is None:
        import yaml

        text = resources.files("eie.sim").joinpath(DEFAULT_TABLE).read_text()
        return from_mapping(AreaTable, yaml.safe_load(text), f"area table eie/sim/{DEFAULT_TABLE}")
    return from_mapping(AreaTable, read_mapping(path, "area table"), f"area table {path}")


_DEFAULT: AreaTable | None = None


def default_table() -> AreaTable:
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = load_area_table()
    return _DEFAULT


@dataclass(frozen=True)
class AreaBreakdown:
    """Per-PE module areas (um^2), the PE total and the chip total."""

    pe_modules_um2: dict[str, float]
    filler_um2: float
    pe_total_um2: float
    lnzd_um2: float
    chip_mm2: float
    num_pes: int
    pe_modules_percent: dict[str, float] = field(default_factory=dict)

    def rows(self) -> list[tuple[str, float, float]]:
        """(module, um^2, % of the PE) rows like Table II, filler cells last."""
        out = [(k, v, 100.0 * v / self.pe_total_um2) for k, v in self.pe_modules_um2.items()]
        out.append(("filler cell", self.filler_um2, 100.0 * self.filler_um2 / self.pe_total_um2))
        return out


def breakdown(config: HardwareConfig | None = None, table: AreaTable | None = None
              ) -> AreaBreakdown:
    """Area of one PE by module and of the whole chip for ``config`` (default: the paper's),
    priced from ``table`` (default: the packaged 45 nm table)."""
    c = config or HardwareConfig()
    t = table or default_table()
    modules = {k: e.scaled(c) for k, e in t.pe_modules.items()}
    placed = sum(modules.values())
    filler = placed * t.filler.area_um2 / sum(e.area_um2 for e in t.pe_modules.values())
    pe_total = placed + filler
    lnzd = lnzd_nodes(c.num_pes, c.lnzd_fanin) * t.lnzd_node.area_um2
    chip = (c.num_pes * pe_total + lnzd) * 1e-6
    pct = {k: 100.0 * v / pe_total for k, v in modules.items()}
    return AreaBreakdown(modules, filler, pe_total, lnzd, chip, c.num_pes, pct)
