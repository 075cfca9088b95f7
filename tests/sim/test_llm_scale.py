"""The LLM-scale study (SRAM-resident vs DRAM-streamed) on a small chip and small layers."""

from __future__ import annotations

from pathlib import Path

from eie.report.sim_studies import plot_llm_scale
from eie.sim import HardwareConfig
from eie.sim.llm_scale import LAYERS, SMOLLM2_135M, study


def test_shapes() -> None:
    assert SMOLLM2_135M["smollm2.gate_proj"] == (1536, 576)
    assert SMOLLM2_135M["smollm2.k_proj"] == (192, 576)  # 3 key-value heads of 64
    assert LAYERS["ffn_4096x11008"] == (4096, 11008)


def test_dense_streams_and_pruned_fits(tmp_path: Path) -> None:
    # 4 PEs with 1 KB each (1024 entries): a dense 128 x 48 layer has 1536 entries per PE.
    cfg = HardwareConfig(num_pes=4, spmat_sram_kb=1)
    dense, pruned = study({"tiny": (128, 48)}, (1.0, 0.1), cfg)
    assert not dense["fits_on_chip"] and pruned["fits_on_chip"]
    assert dense["streamed_latency_us"] > dense["resident_latency_us"]
    assert dense["streamed_energy_uj"] > dense["resident_energy_uj"]
    assert pruned["streamed_latency_us"] == pruned["resident_latency_us"]
    # 4 PEs consume 4 x 8 bits per cycle; DDR3 delivers 128: the dense layer is compute-bound.
    assert not dense["memory_bound"]
    slow = study({"tiny": (128, 48)}, (1.0,), HardwareConfig(num_pes=4, spmat_sram_kb=1,
                                                               dram_gbps=1.0))[0]
    assert slow["memory_bound"] and slow["streamed_latency_us"] > dense["streamed_latency_us"]
    plot_llm_scale([dense, pruned], tmp_path / "llm.png")
    assert (tmp_path / "llm.png").stat().st_size > 1000
