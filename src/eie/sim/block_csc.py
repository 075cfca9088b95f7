"""Block-CSC on the cycle loop: a PE's nonzeros stored as blocks of ``BLOCK`` = 4 consecutive
local rows of one column, one relative index per block (counted in blocks) and the block's 4
weights (zeros included), so a block costs 4 x 4 + 4 = 20 bits instead of EIE's 4 x 8 = 32.

Timing **(choice)**, the EIE loop's rules over the block stream: the sparse-matrix read unit
issues one weight slot per cycle, so a block occupies 4 issue cycles (a zero weight in it is
gated off, as an EIE filler); a gap of ``2**index_bits`` or more zero blocks needs a filler block
(index ``2**index_bits - 1``: it skips that many blocks less one and occupies one), which takes
its 4 slots too; a line of ``spmat_sram_width_bits`` holds ``width // 20`` blocks (3 at 64 bits)
and a new line is read when the block address leaves it; pointers, FIFO, LNZD, hazards and the
bypass as in EIE. The stream is built here (``expand``) as the equivalent EIE entries (each
block its 4 weight slots; the first slot's relative index counts the zero rows before the
block), so the same compiled loop and the same Python reference model (``engine="reference"``)
time it, with ``entries_per_line = 4 x blocks per line``: the two are cross-checked in the tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from eie.errors import ConfigError

BLOCK = 4


@dataclass(frozen=True)
class BlockStream:
    """EIE-shaped arrays of a block-CSC layer (duck-typed for the cycle loop)."""

    codes: npt.NDArray[np.uint8]
    rel_index: npt.NDArray[np.uint8]
    pe_offset: npt.NDArray[np.int64]
    col_ptr: npt.NDArray[np.int64]
    rows: int
    cols: int
    num_pes: int
    blocks: int
    """Stored blocks, filler blocks included."""
    filler_blocks: int


def expand(m: Any, block: int = BLOCK) -> BlockStream:
    """The block-CSC stream of ``m`` (an ``EIEMatrix`` whose rows divide into ``num_pes x
    block``): every block of ``block`` local rows of a PE in a column holding a nonzero."""
    n, (rows, cols) = m.num_pes, m.shape
    if rows % (n * block):
        raise ConfigError(f"block-CSC needs rows divisible by num_pes x {block} = {n * block}, "
                          f"found {rows}")
    span = 1 << m.index_bits
    if block * (span - 1) > 255:
        raise ConfigError(f"block-CSC with {m.index_bits}-bit indices skips more rows than a "
                          f"byte counts; use index_bits <= 6")
    codes = np.asarray(m.to_codes(), np.uint8)
    lblocks = rows // n // block
    # (pe, col, local block, slot): global row = (b * block + slot) * n + pe
    cube = codes.reshape(lblocks, block, n, cols).transpose(2, 3, 0, 1)
    out_codes: list[int] = []
    out_rel: list[int] = []
    col_ptr = np.zeros((n, cols + 1), np.int64)
    fillers = 0
    for k in range(n):
        base = len(out_codes)
        for j in range(cols):
            prev = -1
            for b in np.flatnonzero(cube[k, j].any(axis=1)).tolist():
                gap = b - prev - 1
                while gap >= span:  # a filler block: skips span - 1 blocks, occupies one
                    out_codes += [0] * block
                    out_rel += [block * (span - 1)] + [0] * (block - 1)
                    gap -= span
                    fillers += 1
                out_codes += cube[k, j, b].tolist()
                out_rel += [block * gap] + [0] * (block - 1)
                prev = b
            col_ptr[k, j + 1] = len(out_codes) - base
    sizes = col_ptr[:, -1]
    pe_offset = np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)
    return BlockStream(np.array(out_codes, np.uint8), np.array(out_rel, np.uint8), pe_offset,
                       col_ptr, rows, cols, n, len(out_codes) // block, fillers)


def simulate_block_csc(m: Any, x: npt.ArrayLike, config: Any, fmt: Any,
                       engine: str = "core") -> dict[str, Any]:
    """Cycles, actions, energy and output of ``m`` stored as block-CSC (no bias) on input ``x``
    with fixed-point format ``fmt``."""
    from eie.sim import pe as pe_block
    from eie.sim.cycle_ref import run_loop
    from eie.sim.energy import default_table, energy_breakdown
    from eie.sim.simulate import fit_matrix, loop_params, run_core

    m = fit_matrix(m, config)
    s = expand(m)
    blocks_per_line = config.spmat_sram_width_bits // (BLOCK * config.weight_bits
                                                        + config.index_bits)
    if blocks_per_line < 1:
        raise ConfigError("a block does not fit one sparse-matrix SRAM line")
    p = loop_params(config)
    p.entries_per_line = BLOCK * blocks_per_line
    x_q = fmt.quantize_act(np.asarray(x, np.float64))
    wq = fmt.quantize_weights(m.codebook)
    c = (run_core if engine == "core" else run_loop)(s, x_q, wq, p)  # type: ignore[arg-type]
    loop = int(c.globals[pe_block.GLOBALS.index("loop_cycles")])
    cycles = loop + pe_block.fill_drain_cycles(config)
    actions = {key: int(v) for key, v in zip(pe_block.ACTIONS, c.actions, strict=True)}
    actions["pe", "cycle"] = config.num_pes * cycles
    from eie.sim.ccu import lnzd_nodes

    actions["lnzd_node", "cycle"] = lnzd_nodes(config.num_pes, config.lnzd_fanin) * cycles
    busy = int(c.pe_counters[:, pe_block.PE_COUNTERS.index("busy")].sum())
    return {"cycles": cycles, "loop_cycles": loop, "actions": actions,
            "energy_pj": float(sum(energy_breakdown(actions, default_table(), config).values())),
            "load_efficiency": busy / (config.num_pes * loop) if loop else 1.0,
            "output_q": fmt.narrow(c.acc, relu=False), "blocks": s.blocks, "filler_blocks": s.filler_blocks,
            "storage_bits": s.blocks * (BLOCK * config.weight_bits + config.index_bits),
            "counters": c}
