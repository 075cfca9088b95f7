"""Area model: the paper's Table II per-PE areas (45 nm), scaled by the config's storage sizes.

Scaling rules (documented in docs/simulator.md; the paper reports only the 64-PE design):

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
"""

from __future__ import annotations

from dataclasses import dataclass, field

from eie.sim.ccu import lnzd_nodes
from eie.sim.config import HardwareConfig

# Table II, one PE at 45 nm (um^2), with the sizes each area was reported at.
PAPER_PE_MODULES_UM2: dict[str, float] = {
    "activation queue": 758.0,
    "pointer read": 121_849.0,
    "sparse-matrix read": 469_412.0,
    "arithmetic unit": 3_110.0,
    "activation read/write": 18_934.0,
}
PAPER_FILLER_UM2 = 23_961.0
PAPER_PE_TOTAL_UM2 = 638_024.0
LNZD_NODE_UM2 = 189.0
_PAPER = HardwareConfig()


def _act_bits(c: HardwareConfig) -> int:
    return c.act_sram_bytes * 8 + 2 * c.act_regfile_entries * c.act_bits


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


def breakdown(config: HardwareConfig | None = None) -> AreaBreakdown:
    """Area of one PE by module and of the whole chip for ``config`` (default: the paper's)."""
    c = config or HardwareConfig()
    scale = {
        "activation queue": c.fifo_depth / _PAPER.fifo_depth,
        "pointer read": c.ptr_sram_kb / _PAPER.ptr_sram_kb,
        "sparse-matrix read": c.spmat_sram_kb / _PAPER.spmat_sram_kb,
        "arithmetic unit": 1.0,
        "activation read/write": _act_bits(c) / _act_bits(_PAPER),
    }
    modules = {k: v * scale[k] for k, v in PAPER_PE_MODULES_UM2.items()}
    placed = sum(modules.values())
    filler = placed * PAPER_FILLER_UM2 / sum(PAPER_PE_MODULES_UM2.values())
    pe_total = placed + filler
    lnzd = lnzd_nodes(c.num_pes, c.lnzd_fanin) * LNZD_NODE_UM2
    chip = (c.num_pes * pe_total + lnzd) * 1e-6
    pct = {k: 100.0 * v / pe_total for k, v in modules.items()}
    return AreaBreakdown(modules, filler, pe_total, lnzd, chip, c.num_pes, pct)
