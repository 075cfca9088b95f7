"""Layers larger than the on-chip SRAM: their entries streamed from DRAM for every input.

EIE keeps every weight in the PEs' sparse-matrix SRAM (128 KB each: 64 PEs hold 8 M 8-bit
entries). A layer whose entries (fillers and the bias column included) exceed one PE's
``spmat_sram_kb`` cannot stay resident: all its entries and pointers come from DRAM at ``dram_gbps`` for each input vector, into a double-buffered
SRAM (one half is computed on while the other fills). The model **(choice)**:

- bits streamed = entries x ``entry_bits`` + pointers x ``ptr_bits`` (every PE, every column);
- transfer cycles = bits / (``dram_gbps`` x 8e9) x clock;
- the first chunk (half of all PEs' SRAM, or the whole layer) must arrive before computing
  starts; afterwards loading and computing overlap: ``cycles = first_chunk + max(compute,
  transfer - first_chunk)``. The layer is *memory-bound* when the transfer exceeds the compute;
- energy: ``dram.read_bit`` per bit streamed (the energy table: 640 pJ per 32-bit DRAM access
  in the paper's Table I, i.e. 20 pJ/bit), and the PEs' clock keeps running while they wait.

A resident layer streams nothing (its one-time load is amortized over every input).

**Pointer SRAM.** A PE holds ``ptr_sram_kb`` of column pointers (``ptr_capacity``: 16,384
16-bit pointers in 32 KB); a layer needs cols + 1 per PE (the bias column included). The paper
runs VGG-6 (25,088 columns: 25,089 pointers per PE, 49 KB) on that chip, so a layer whose
pointers do not fit is not refused by default: **(choice)** the SRAM keeps the first
``ptr_capacity`` pointers resident and the pointers past it that the broadcast columns need
(column j reads pointers j and j + 1) come from DRAM for each input, every PE's in one burst per
column, overlapped with computing from the start (the first columns' pointers are resident):
``cycles = max(compute, transfer)`` (``pointer_bits``). ``stream_pointers=False`` refuses such a layer instead (``ConfigError``). A layer
whose entries do not fit streams every pointer with its entries, as above.

>>> from eie.sim.config import HardwareConfig
>>> s = plan(HardwareConfig(), entries_per_pe=[200_000] * 64, cols=4096, compute_cycles=150_000)
>>> s.fits, s.memory_bound, s.bits
(False, True, 106595328)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eie.sim.config import HardwareConfig


@dataclass(frozen=True)
class DramStream:
    fits: bool
    """Every PE's entries and pointers fit its SRAMs: nothing is streamed."""
    bits: int
    """Bits streamed from DRAM per input vector (0 when the layer fits)."""
    transfer_cycles: int
    compute_cycles: int
    first_chunk_cycles: int
    cycles: int
    """Latency in cycles, streaming included."""

    @property
    def memory_bound(self) -> bool:
        return not self.fits and self.transfer_cycles > self.compute_cycles

    streams: str = "nothing"
    """What comes from DRAM per input: ``nothing``, ``pointers`` or ``entries and pointers``."""

    def to_json(self) -> dict[str, object]:
        return {"fits_on_chip": self.fits, "dram_streams": self.streams, "dram_bits": self.bits,
                "transfer_cycles": self.transfer_cycles, "compute_cycles": self.compute_cycles,
                "first_chunk_cycles": self.first_chunk_cycles,
                "memory_bound": self.memory_bound}


def capacity_entries(config: HardwareConfig) -> int:
    """Entries one PE's sparse-matrix SRAM holds."""
    return config.spmat_sram_kb * 1024 * 8 // config.entry_bits


def ptr_capacity(config: HardwareConfig) -> int:
    """Column pointers one PE's pointer SRAM holds."""
    return config.ptr_sram_kb * 1024 * 8 // config.ptr_bits


def pointer_bits(config: HardwareConfig, cols: int, broadcast: Sequence[int]) -> int:
    """Bits of the pointers past the pointer SRAM's capacity that the ``broadcast`` columns
    (of a layer with ``cols`` columns, bias column included) read, for every PE; 0 when the
    layer's cols + 1 pointers fit. Raises ``ConfigError`` with ``stream_pointers=False``."""
    from eie.errors import ConfigError

    cap = ptr_capacity(config)
    if cols + 1 <= cap:
        return 0
    if not config.stream_pointers:
        raise ConfigError(f"the layer needs {cols + 1:,} column pointers per PE but "
                          f"ptr_sram_kb={config.ptr_sram_kb} holds {cap:,} "
                          f"({config.ptr_bits}-bit); set stream_pointers=true to stream the rest "
                          f"from DRAM")
    needed = {p for j in broadcast for p in (j, j + 1) if p >= cap}
    return len(needed) * config.num_pes * config.ptr_bits


def plan(config: HardwareConfig, entries_per_pe: Sequence[int], cols: int,
         compute_cycles: int, ptr_stream_bits: int = 0) -> DramStream:
    """Streaming plan of a layer with ``entries_per_pe`` entries and ``cols`` columns (bias
    column included) whose cycle loop takes ``compute_cycles``; ``ptr_stream_bits`` (from
    ``pointer_bits``) when only its pointers overflow."""
    most = max(entries_per_pe, default=0)
    n = config.num_pes
    bits_per_cycle = config.dram_gbps * 8e9 / (config.clock_mhz * 1e6)
    if most <= capacity_entries(config):
        if ptr_stream_bits <= 0:
            return DramStream(True, 0, 0, compute_cycles, 0, compute_cycles)
        # The first columns' pointers are resident: computing starts at once and the streamed
        # ones (for later columns) arrive meanwhile.
        bits, half, streams = ptr_stream_bits, 0, "pointers"
    else:
        bits = sum(entries_per_pe) * config.entry_bits + n * (cols + 1) * config.ptr_bits
        half = n * capacity_entries(config) // 2 * config.entry_bits
        streams = "entries and pointers"
    transfer = int(-(-bits // bits_per_cycle))
    first = int(-(-min(bits, half) // bits_per_cycle))
    cycles = first + max(compute_cycles, transfer - first)
    return DramStream(False, int(bits), transfer, compute_cycles, first, cycles, streams)
