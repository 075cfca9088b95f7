"""The paper's Table II for any config: one PE's power and area by module, and the chip.

>>> rows = table_ii()
>>> [r["module"] for r in rows][:2], round(rows[-1]["power_mw"], 2), rows[-1]["area_um2"]
(['activation queue', 'pointer read'], 9.16, 638024.0)
"""

from __future__ import annotations

from typing import Any

from eie.sim.area import breakdown
from eie.sim.config import HardwareConfig
from eie.sim.energy import EnergyTable, power_breakdown


def table_ii(config: HardwareConfig | None = None, table: EnergyTable | None = None
             ) -> list[dict[str, Any]]:
    """Rows ``{module, power_mw, power_percent, area_um2, area_percent}`` for one busy PE in the
    paper's steady state: the five modules, the clock network (power only; its area is inside
    the modules), filler cells (area only), then the PE total. Power: ``power_breakdown``;
    area: ``area.breakdown``."""
    config = config or HardwareConfig()
    p = power_breakdown(config, table)
    a = breakdown(config)
    pw, area = p["pe_modules_mw"], a.pe_modules_um2
    total_mw, total_um2 = p["pe_total_mw"], a.pe_total_um2
    rows = []
    for module in [*area, "clock network", "filler cell"]:
        mw = pw.get(module)
        um2 = a.filler_um2 if module == "filler cell" else area.get(module)
        rows.append({"module": module, "power_mw": mw,
                     "power_percent": None if mw is None else 100.0 * mw / total_mw,
                     "area_um2": um2,
                     "area_percent": None if um2 is None else 100.0 * um2 / total_um2})
    rows.append({"module": "total (one PE)", "power_mw": total_mw, "power_percent": 100.0,
                 "area_um2": total_um2, "area_percent": 100.0})
    return rows


def chip_summary(config: HardwareConfig | None = None, table: EnergyTable | None = None
                 ) -> dict[str, float]:
    """Chip power (PEs + CCU + LNZD, steady state) and area; the paper: 590 mW, 40.8 mm^2."""
    config = config or HardwareConfig()
    p = power_breakdown(config, table)
    a = breakdown(config)
    peak = config.num_pes * config.clock_mhz * 2 * 1e-3  # GOP/s: 2 ops per MAC per PE-cycle
    return {"num_pes": config.num_pes, "power_mw": p["chip_total_mw"], "area_mm2": a.chip_mm2,
            "peak_gops": peak}
