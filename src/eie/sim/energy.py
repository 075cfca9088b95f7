"""Energy model: the simulator counts, this module prices (Accelergy style).

A versioned YAML table maps (component, action) to ``energy_pj`` with a ``source`` for every
number (default: ``eie/sim/data/energy_45nm.yaml``, derived from the paper's Table II per-PE
power breakdown at 800 MHz and its Table I 45 nm per-operation energies; see that file and
docs/simulator.md). Energy = sum(count * energy_pj); a count without a table entry raises.

An entry may scale with a config field: ``reference_width_bits`` + ``width_field`` +
``width_fixed_fraction`` price a width ``w`` at ``energy_pj * (f + (1 - f) * w / reference)``.

>>> table = load_energy_table()
>>> table.name, table.version, table.price("arith", "mac")
('eie-45nm-800mhz', 1, 1.1552)
>>> round(energy_pj({("arith", "mac"): 10}, table), 3)
11.552
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from eie._config import Integer, Number, check_fields, from_mapping, loader, read_mapping, rule
from eie.errors import ConfigError
from eie.sim.config import HardwareConfig

Key = tuple[str, str]

# The paper's Table II modules and the components each one owns (pe.cycle = clock network).
MODULES: dict[str, tuple[str, ...]] = {
    "activation queue": ("act_queue",),
    "pointer read": ("ptr_sram",),
    "sparse-matrix read": ("spmat_sram",),
    "arithmetic unit": ("codebook", "arith"),
    "activation read/write": ("src_regfile", "dst_regfile", "act_sram"),
    "clock network": ("pe",),
}
CHIP_COMPONENTS = ("ccu", "lnzd_node")


@dataclass(frozen=True)
class EnergyEntry:
    """The price of one (component, action), with its source."""

    energy_pj: float = field(metadata=rule(Number(0.0, lo_inclusive=True)))
    """Energy per action at the reference width (pJ)."""
    source: str
    """Where the number comes from (non-empty)."""
    reference_width_bits: int | None = None
    """Width ``energy_pj`` was derived for; with ``width_field``, other widths scale."""
    width_field: str | None = None
    """The ``HardwareConfig`` field holding the width this action scales with."""
    width_fixed_fraction: float = field(default=0.0, metadata=rule(
        Number(0.0, 1.0, lo_inclusive=True)))
    """Part of ``energy_pj`` that does not depend on the width."""

    def __post_init__(self) -> None:
        check_fields(self)
        object.__setattr__(self, "energy_pj", float(self.energy_pj))
        object.__setattr__(self, "width_fixed_fraction", float(self.width_fixed_fraction))
        if not isinstance(self.source, str) or not self.source.strip():
            raise ConfigError(f"source should be a non-empty string, found {self.source!r}")
        if (self.reference_width_bits is None) != (self.width_field is None):
            raise ConfigError("reference_width_bits and width_field go together; found "
                              f"{self.reference_width_bits!r} and {self.width_field!r}")
        if self.reference_width_bits is not None:
            Integer(1, 1 << 20).check("reference_width_bits", self.reference_width_bits)
            names = [f.name for f in dataclasses.fields(HardwareConfig)]
            if self.width_field not in names:
                raise ConfigError(f"width_field should name a HardwareConfig field, found "
                                  f"{self.width_field!r}")


def _load_components(value: Any, where: str) -> dict[Key, EnergyEntry]:
    """``{component: {action: entry}}`` -> ``{(component, action): EnergyEntry}``."""
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: components should be a mapping, found "
                          f"{type(value).__name__}")
    entries: dict[Key, EnergyEntry] = {}
    for comp, actions in value.items():
        if not isinstance(actions, Mapping):
            raise ConfigError(f"{where}: {comp} should map actions to entries")
        for action, e in actions.items():
            entries[str(comp), str(action)] = from_mapping(EnergyEntry, e,
                                                           f"{where}: {comp}.{action}")
    return entries


@dataclass(frozen=True)
class _EnergyFile:
    """The layout of an energy table file."""

    name: str
    version: int = field(metadata=rule(Integer(0, 1 << 31)))
    components: Mapping[Key, EnergyEntry] = field(metadata=loader(_load_components))
    clock_mhz: float | None = None

    def __post_init__(self) -> None:
        check_fields(self)
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"name should be a non-empty string, found {self.name!r}")
        if self.clock_mhz is not None:
            Number(0.0, 100_000.0).check("clock_mhz", self.clock_mhz)


@dataclass(frozen=True)
class EnergyTable:
    """Prices per (component, action), with provenance."""

    name: str
    version: int
    entries: Mapping[Key, EnergyEntry]
    clock_mhz: float | None = None

    def entry(self, component: str, action: str) -> EnergyEntry:
        try:
            return self.entries[component, action]
        except KeyError:
            raise ConfigError(f"energy table {self.name!r} v{self.version} has no price for "
                              f"({component!r}, {action!r}); add it with a source") from None

    def price(self, component: str, action: str, config: HardwareConfig | None = None) -> float:
        """pJ per action, scaled to ``config``'s widths where the entry says so."""
        e = self.entry(component, action)
        if config is None or e.reference_width_bits is None or e.width_field is None:
            return e.energy_pj
        w = getattr(config, e.width_field)
        f = e.width_fixed_fraction
        return e.energy_pj * (f + (1.0 - f) * w / e.reference_width_bits)


def _parse(data: Any, where: str) -> EnergyTable:
    f = from_mapping(_EnergyFile, data, f"energy table {where}")
    return EnergyTable(f.name, f.version, f.components, f.clock_mhz)


def load_energy_table(path: str | os.PathLike[str] | None = None) -> EnergyTable:
    """The packaged 45 nm table, or a YAML file of the same layout."""
    if path is None:
        import yaml

        text = resources.files("eie.sim").joinpath("data/energy_45nm.yaml").read_text()
        return _parse(yaml.safe_load(text), "eie/sim/data/energy_45nm.yaml")
    return _parse(read_mapping(path, "energy table"), str(path))


_DEFAULT: EnergyTable | None = None


def default_table() -> EnergyTable:
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = load_energy_table()
    return _DEFAULT


def energy_breakdown(counts: Mapping[Key, float], table: EnergyTable,
                     config: HardwareConfig | None = None) -> dict[Key, float]:
    """pJ per (component, action): count * price. Raises ConfigError for an unpriced count."""
    return {key: n * table.price(key[0], key[1], config) for key, n in counts.items()}


def energy_pj(counts: Mapping[Key, float], table: EnergyTable | None = None,
              config: HardwareConfig | None = None) -> float:
    """Total energy of the counts in pJ."""
    return float(sum(energy_breakdown(counts, table or default_table(), config).values()))


def by_module(breakdown: Mapping[Key, float]) -> dict[str, float]:
    """Group a (component, action) breakdown into the paper's Table II modules + chip parts."""
    out: dict[str, float] = {}
    owner = {c: mod for mod, comps in MODULES.items() for c in comps}
    for (comp, _action), v in breakdown.items():
        mod = owner.get(comp, "central control unit" if comp in CHIP_COMPONENTS else comp)
        out[mod] = out.get(mod, 0.0) + v
    return out


def nominal_pe_counts_per_cycle(config: HardwareConfig) -> dict[Key, float]:
    """Actions per cycle of one busy PE in the paper's steady state: one column of
    ``entries_per_line`` entries per ``entries_per_line`` cycles, one MAC per cycle."""
    epl = config.entries_per_line
    return {
        ("pe", "cycle"): 1.0,
        ("act_queue", "push"): 1.0 / epl,
        ("act_queue", "pop"): 1.0 / epl,
        ("ptr_sram", "read"): 2.0 / epl,
        ("spmat_sram", "read_line"): 1.0 / epl,
        ("codebook", "lookup"): 1.0,
        ("arith", "mac"): 1.0,
        ("dst_regfile", "read"): 1.0,
        ("dst_regfile", "write"): 1.0,
    }


def power_breakdown(config: HardwareConfig | None = None, table: EnergyTable | None = None
                    ) -> dict[str, Any]:
    """Power like the paper's Table II: one busy PE by module (mW and %), and the chip.

    At the default config this reproduces Table II (9.157 mW per PE, with the clock network as
    its own row) by construction of the default table.

    >>> p = power_breakdown()
    >>> round(p["pe_total_mw"], 2), round(p["chip_total_mw"], 1)
    (9.16, 590.0)
    """
    config = config or HardwareConfig()
    table = table or default_table()
    per_cycle = energy_breakdown(nominal_pe_counts_per_cycle(config), table, config)
    to_mw = config.clock_mhz * 1e-3  # pJ per cycle -> mW
    modules = {k: v * to_mw for k, v in by_module(per_cycle).items()}
    pe_total = sum(modules.values())
    from eie.sim.ccu import lnzd_nodes

    epl = config.entries_per_line
    ccu_mw = table.price("ccu", "broadcast", config) / epl * to_mw
    lnzd_mw = lnzd_nodes(config.num_pes, config.lnzd_fanin) * table.price("lnzd_node", "cycle") \
        * to_mw
    return {
        "pe_modules_mw": modules,
        "pe_modules_percent": {k: 100.0 * v / pe_total for k, v in modules.items()},
        "pe_total_mw": pe_total,
        "ccu_mw": ccu_mw,
        "lnzd_mw": lnzd_mw,
        "chip_total_mw": config.num_pes * pe_total + ccu_mw + lnzd_mw,
        "table": f"{table.name} v{table.version}",
    }
