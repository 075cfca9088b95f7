"""Cycle-level simulator of the EIE accelerator, with energy and area models and sweeps.

One module per hardware block (``ccu``, ``pe``), the cycle loop in the C++ core (mirrored by
the Python reference model ``cycle_ref``), then ``energy`` and ``area`` price what it counts.

>>> import numpy as np
>>> from eie.formats.benchmark_layers import make_layer
>>> m, x = make_layer("alex8", num_pes=64, seed=0)
>>> r = simulate(m, x)
>>> 0.5 < r.load_efficiency <= 1.0
True
"""

from eie.errors import ConfigError
from eie.sim.area import AreaBreakdown, breakdown
from eie.sim.config import HardwareConfig, load_config, save_config
from eie.sim.energy import EnergyTable, energy_pj, load_energy_table, power_breakdown
from eie.sim.result import ModelSimResult, SimResult
from eie.sim.simulate import fit_matrix, simulate
from eie.sim.tables import chip_summary, table_ii

__all__ = [
    "AreaBreakdown",
    "ConfigError",
    "EnergyTable",
    "HardwareConfig",
    "ModelSimResult",
    "SimResult",
    "breakdown",
    "chip_summary",
    "energy_pj",
    "fit_matrix",
    "load_config",
    "load_energy_table",
    "power_breakdown",
    "save_config",
    "simulate",
    "table_ii",
]
