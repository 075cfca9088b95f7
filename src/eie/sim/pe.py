"""The processing element (PE): what each block does and how the simulator times it.

The cycle loop itself runs in the C++ core (``csrc/sim/cycle.cpp``, column by column) and is mirrored
by the Python reference model ``eie.sim.cycle_ref``; this module names the blocks and their
per-cycle behaviour, with the choices made where the paper is silent.

Activation queue (FIFO, ``fifo_depth`` = d entries counting the column being worked on)
    Receives every broadcast (value, column index). A full FIFO in any PE stops the CCU: d - 1
    queued columns for d >= 2 (the authors' ring buffer of size d; the current column sits in
    the pointer-read register), any column held for d = 1 (lockstep). The PE pops the head when
    it has finished issuing the previous column.

Bias column
    With ``bias_column`` the bias is broadcast as one more column (activation 1.0) after the
    last nonzero activation; its entries cost cycles like any column (``eie.sim.bias``).

Pointer read unit (``ptr_banks`` single-ported banks)
    Start and end pointers of the popped column come from the even and odd banks in one cycle
    (two cycles with one bank). The read is prefetched while the previous column's entries
    stream, so a column occupies ``max(ptr_read_cycles, entries)`` cycles: an empty column costs
    one cycle (pointer read only). Each column counts two ``ptr_sram.read`` actions.

Sparse-matrix read unit (``spmat_sram_width_bits`` wide lines)
    One entry per cycle goes to the arithmetic unit. The unit holds the last line read; it reads
    a new line only when the entry address (PE-local, entries packed back to back across
    columns) leaves that line. The line read is pipelined ahead of use (no stall).

Arithmetic unit (``arith_pipeline_stages`` = 4)
    (1) codebook lookup and address accumulation, (2) accumulator read and multiply,
    (3) shift and add, (4) accumulator write. The register file is written in the first half of a
    cycle and read in the second, so only back-to-back updates of the same accumulator conflict;
    the bypass forwards the adder output for them (``arith.bypass`` instead of a read). Without
    the bypass the second update waits one cycle (a *blocked* cycle). Filler entries (code 0) take
    their issue slot but are gated off: no lookup, no multiply, no accumulator access.

Activation read/write unit
    Source and destination register files of ``act_regfile_entries`` 16-bit words per PE, which
    swap roles between layers (so a layer's outputs are the next layer's inputs in place, at no
    cost). Accumulators of local rows beyond the destination register file live in the
    activation SRAM (their reads and writes are priced as ``act_sram`` accesses, same timing).
    Inputs longer than a batch are loaded batch by batch from the activation SRAM.

Per-PE cycle classes (each loop cycle of each PE is exactly one): *busy* (issued an entry or
spent the cycle on a pointer read), *blocked* (hazard stall) and *starved* (FIFO empty).
Load efficiency = busy / all PE cycles. Real work = real entries / busy cycles.

Latency: the loop ends when the last entry is issued; ``fill_drain_cycles`` is added once per
layer for the first column's pointer and line reads (not hidden at the start) and the last
entry's remaining pipeline stages.
"""

from __future__ import annotations

from eie import _core
from eie.sim.config import HardwareConfig

# The C++ core's counter names, in its arrays' order (csrc/sim/cycle.h: kPeCounterNames,
# kActionNames as (component, action), kGlobalNames), exported by the core itself.
PE_COUNTERS: tuple[str, ...] = tuple(_core.SIM_PE_COUNTERS)
ACTIONS: tuple[tuple[str, str], ...] = tuple((c, a) for c, a in _core.SIM_ACTIONS)
GLOBALS: tuple[str, ...] = tuple(_core.SIM_GLOBALS)


def fill_drain_cycles(config: HardwareConfig) -> int:
    """Cycles added once per layer: the first column's pointer read and spmat line read, then the
    last entry's ``arith_pipeline_stages - 1`` stages after issue (4-stage default: 2 + 3 = 5)."""
    return config.ptr_read_cycles + 1 + config.arith_pipeline_stages - 1
