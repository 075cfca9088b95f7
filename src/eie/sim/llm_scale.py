"""LLM-scale layers on EIE: SmolLM2-135M's layer shapes and a 4096 x 11008 layer, 4-bit
codebooks, dense and pruned, SRAM-resident (as if the chip's SRAM held them) against
DRAM-streamed (the real 128 KB per PE; ``eie.sim.dram``): ``python -m eie.cli.sim_studies
llm-scale`` (its table and figure: ``eie.report.sim_studies``).

SmolLM2-135M (HuggingFaceTB/SmolLM2-135M, config.json): hidden size 576, intermediate size 1536,
9 attention heads of 64, 3 key-value heads, vocabulary 49152 (the LM head shares the embedding).
Weights are uniform random at the given density (codes 1..15 of a 16-entry codebook);
activations are dense and signed (an LLM's hidden states are not ReLU outputs).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

# name -> (rows = outputs, cols = inputs)
SMOLLM2_135M: dict[str, tuple[int, int]] = {
    "smollm2.q_proj": (576, 576),
    "smollm2.k_proj": (192, 576),
    "smollm2.v_proj": (192, 576),
    "smollm2.o_proj": (576, 576),
    "smollm2.gate_proj": (1536, 576),
    "smollm2.up_proj": (1536, 576),
    "smollm2.down_proj": (576, 1536),
    "smollm2.lm_head": (49152, 576),
}
LAYERS: dict[str, tuple[int, int]] = {**SMOLLM2_135M, "ffn_4096x11008": (4096, 11008)}


def resident_config(config: Any, rows: int, cols: int, density: float) -> Any:
    """``config`` with SRAMs large enough to hold the layer (area aside): the resident case."""
    entries = int(rows * cols * density * 1.1) // config.num_pes + 1024
    kb = max(config.spmat_sram_kb, -(-entries * config.entry_bits // 8192))
    ptr_kb = max(config.ptr_sram_kb, -(-(cols + 2) * config.ptr_bits // 8192))
    return dataclasses.replace(config, spmat_sram_kb=kb, ptr_sram_kb=ptr_kb)


def study(layers: dict[str, tuple[int, int]] | None = None,
          densities: tuple[float, ...] = (1.0, 0.1), config: Any = None,
          seed: int = 0) -> list[dict[str, Any]]:
    """One record per (layer, density): latency and energy resident vs streamed."""
    from eie.engine.fixed_point import FixedPointFormat
    from eie.formats import EIEMatrix
    from eie.formats.benchmark_layers import random_codebook, random_codes
    from eie.sim import HardwareConfig, simulate

    config = config or HardwareConfig()
    rng = np.random.default_rng(seed)
    out = []
    for name, (rows, cols) in (layers or LAYERS).items():
        for density in densities:
            m = EIEMatrix.from_codes(random_codes(rows, cols, density, rng), random_codebook(),
                                     config.num_pes, config.index_bits)
            x = rng.normal(size=cols).astype(np.float32)
            streamed = simulate(m, x, config=config, name=name)
            fmt = streamed.fmt
            assert isinstance(fmt, FixedPointFormat)
            resident = simulate(m, x, config=resident_config(config, rows, cols, density),
                                fmt=fmt, name=name)
            d = streamed.dram
            assert d is not None and resident.dram is not None and resident.dram.fits
            out.append({
                "layer": name, "shape": [rows, cols], "density": density,
                "entries": int(m.num_entries), "fits_on_chip": d.fits,
                "memory_bound": d.memory_bound, "dram_bits": d.bits,
                "compute_cycles": d.compute_cycles, "transfer_cycles": d.transfer_cycles,
                "resident_latency_us": resident.latency_us,
                "streamed_latency_us": streamed.latency_us,
                "resident_energy_uj": resident.energy_pj * 1e-6,
                "streamed_energy_uj": streamed.energy_pj * 1e-6,
                "load_efficiency": streamed.load_efficiency,
            })
    return out
