"""``SimResult`` (one layer) and ``ModelSimResult`` (a chain of layers): what the simulator reports.

Every derived figure is a property computed from the raw counters, so nothing can disagree.
``to_json()`` gives a JSON-ready record (``eie simulate --json`` prints a list of them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from eie.engine.fixed_point import FixedPointFormat
from eie.sim.config import HardwareConfig
from eie.sim.dram import DramStream
from eie.sim.qformat import LayerFormat

Key = tuple[str, str]


@dataclass(frozen=True, eq=False)
class SimResult:
    """One simulated layer.

    Cycle classes per PE cover the ``loop_cycles`` (from the first cycle to the last issued entry);
    ``cycles`` adds the once-per-layer pipeline fill and drain.
    """

    name: str
    config: HardwareConfig
    fmt: FixedPointFormat | LayerFormat
    output_q: npt.NDArray[np.int16]
    """``(rows,)`` the layer's outputs in fixed point (``fmt.act_frac_bits``), bit-exact with
    ``eie.engine.reference.spmv_fixed``."""
    shape: tuple[int, int]
    """(rows, cols) of the layer."""
    cycles: int
    loop_cycles: int
    fill_drain_cycles: int
    pe_busy: npt.NDArray[np.int64]
    pe_starved: npt.NDArray[np.int64]
    pe_blocked: npt.NDArray[np.int64]
    pe_real_entries: npt.NDArray[np.int64]
    pe_filler_entries: npt.NDArray[np.int64]
    pe_columns: npt.NDArray[np.int64]
    fifo_histogram: npt.NDArray[np.int64]
    """``(fifo_depth + 1,)`` PE-cycles spent at each FIFO occupancy (sampled each loop cycle)."""
    actions: dict[Key, int]
    ccu_stall_cycles: int
    batches: int
    energy_breakdown: dict[Key, float]
    """pJ per (component, action)."""
    energy_table: str
    activation: str | None = None
    dram: DramStream | None = None
    """DRAM streaming of a layer larger than the on-chip SRAM (``cycles`` includes it)."""
    sqnr_db: float | None = None
    """Output SQNR (dB) against the float layer on the float input, when it was computed."""
    extra: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------------------ figures
    @property
    def output(self) -> npt.NDArray[np.float32]:
        """The outputs as floats (``output_q / 2**act_frac_bits``)."""
        return self.fmt.dequantize_act(self.output_q)

    @property
    def latency_us(self) -> float:
        return self.cycles / self.config.clock_mhz

    @property
    def pe_cycles(self) -> int:
        """Simulated PE-cycles (num_pes x loop cycles)."""
        return self.config.num_pes * self.loop_cycles

    @property
    def load_efficiency(self) -> float:
        """1 - idle (starved + blocked) PE cycles / all PE cycles of the loop."""
        return float(self.pe_busy.sum()) / self.pe_cycles if self.pe_cycles else 1.0

    @property
    def real_work_fraction(self) -> float:
        """Real entries / busy cycles (fillers and empty-column pointer reads are not real)."""
        busy = int(self.pe_busy.sum())
        return float(self.pe_real_entries.sum()) / busy if busy else 1.0

    @property
    def pe_imbalance(self) -> float:
        """Max / mean entries issued per PE (real and filler): 1.0 is a perfectly even load."""
        work = self.pe_real_entries + self.pe_filler_entries
        mean = float(work.mean()) if work.size else 0.0
        return float(work.max()) / mean if mean else 1.0

    @property
    def macs(self) -> int:
        return int(self.pe_real_entries.sum())

    @property
    def energy_pj(self) -> float:
        return float(sum(self.energy_breakdown.values()))

    @property
    def gops(self) -> float:
        """Useful operations (2 per MAC) per second, in GOP/s."""
        return 2.0 * self.macs / (self.latency_us * 1e3) if self.cycles else 0.0

    @property
    def dense_gops(self) -> float:
        """The dense layer's operations (2 x rows x cols) over this latency: the equivalent
        dense throughput."""
        rows, cols = self.shape
        return 2.0 * rows * cols / (self.latency_us * 1e3) if self.cycles else 0.0

    @property
    def power_mw(self) -> float:
        """Average power: energy / latency."""
        return self.energy_pj / (self.latency_us * 1e3) if self.cycles else 0.0

    def energy_by_module(self) -> dict[str, float]:
        """pJ per Table II module (plus clock network and central control unit)."""
        from eie.sim.energy import by_module

        return by_module(self.energy_breakdown)

    def to_json(self, include_output: bool = False) -> dict[str, Any]:
        rows, cols = self.shape
        d: dict[str, Any] = {
            "name": self.name,
            "shape": [rows, cols],
            "cycles": self.cycles,
            "loop_cycles": self.loop_cycles,
            "latency_us": self.latency_us,
            "load_efficiency": self.load_efficiency,
            "pe_imbalance": self.pe_imbalance,
            "real_work_fraction": self.real_work_fraction,
            "energy_pj": self.energy_pj,
            "energy_uj": self.energy_pj * 1e-6,
            "power_mw": self.power_mw,
            "gops": self.gops,
            "dense_gops": self.dense_gops,
            "macs": self.macs,
            "pe_cycles": self.pe_cycles,
            "ccu_stall_cycles": self.ccu_stall_cycles,
            "batches": self.batches,
            "pe_busy_cycles": int(self.pe_busy.sum()),
            "pe_starved_cycles": int(self.pe_starved.sum()),
            "pe_blocked_cycles": int(self.pe_blocked.sum()),
            "filler_entries": int(self.pe_filler_entries.sum()),
            "fifo_histogram": self.fifo_histogram.tolist(),
            "actions": {f"{c}.{a}": n for (c, a), n in self.actions.items()},
            "energy_breakdown_pj": {f"{c}.{a}": v for (c, a), v in self.energy_breakdown.items()},
            "energy_by_module_pj": self.energy_by_module(),
            "energy_table": self.energy_table,
            "fixed_point": (self.fmt.to_json() if isinstance(self.fmt, LayerFormat) else
                            {"act_frac_bits": self.fmt.act_frac_bits,
                             "weight_frac_bits": self.fmt.weight_frac_bits}),
            "sqnr_db": self.sqnr_db,
            **(self.dram.to_json() if self.dram is not None else {}),
            "activation": self.activation,
            "config": self.config.to_json(),
            **self.extra,
        }
        if include_output:
            d["output"] = self.output.tolist()
        return d


@dataclass(frozen=True, eq=False)
class ModelSimResult:
    """A whole model simulated layer after layer (outputs stay in place as the next inputs)."""

    layers: tuple[SimResult, ...]

    @property
    def output_q(self) -> npt.NDArray[np.int16]:
        return self.layers[-1].output_q

    @property
    def output(self) -> npt.NDArray[np.float32]:
        return self.layers[-1].output

    @property
    def cycles(self) -> int:
        return sum(r.cycles for r in self.layers)

    @property
    def latency_us(self) -> float:
        return sum(r.latency_us for r in self.layers)

    @property
    def energy_pj(self) -> float:
        return sum(r.energy_pj for r in self.layers)

    def to_json(self, include_output: bool = False) -> list[dict[str, Any]]:
        return [r.to_json(include_output) for r in self.layers]
