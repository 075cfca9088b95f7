"""Structured sparsity on EIE: unstructured, N:M, block-sparse and load-balance-aware (per-PE,
ESE-style) pruning of the same weights at equal density, simulated on the same input; and a
block-CSC hardware variant that stores one relative index per block
(``python -m eie.cli.sim_studies structured``; its table and figure: ``eie.report.sim_studies``).

Patterns (``prune(w, density, pattern, num_pes)``; keep the largest magnitudes):

- ``unstructured``: the largest ``density`` fraction of the whole matrix (EIE's pruning);
- ``n:m``: in every row, ``N`` of each ``M`` = 8 consecutive inputs, ``N = density x 8``
  (the sparse-tensor-core pattern, along the input dimension);
- ``block``: blocks of ``BLOCK`` = 4 local rows of one PE in one column (global rows
  ``r, r + n, r + 2n, r + 3n`` for ``n`` PEs: the only blocks one PE can index once), ranked by
  their L2 norm;
- ``balanced``: each PE's rows keep the same number of weights (ESE's load-balance-aware pruning,
  Han et al., FPGA 2017).

Block-CSC **(choice)**: a block's 4 weights share one 4-bit relative index (counted in blocks),
so a block costs 4 x 4 + 4 = 20 bits instead of 4 x 8 = 32, and a zero run spans 4x more rows
before a filler is needed. Its cycles, line reads and energy come from the cycle loop run over
the block stream (``eie.sim.block_csc``: 4 issue slots per block, ``width // 20`` blocks per
line); the area model scales the sparse-matrix SRAM to what the layer needs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from eie.errors import ConfigError

PATTERNS = ("unstructured", "n:m", "block", "balanced")
M = 8
BLOCK = 4


def _top(scores: npt.NDArray[np.float64], k: int) -> npt.NDArray[np.bool_]:
    flat = scores.ravel()
    keep = np.zeros(flat.size, bool)
    if k > 0:
        keep[np.argpartition(-flat, k - 1)[:k]] = True
    return keep.reshape(scores.shape)


def prune(w: npt.NDArray[np.floating], density: float, pattern: str, num_pes: int
          ) -> npt.NDArray[np.bool_]:
    """Mask of the weights ``pattern`` keeps at ``density`` (see the module docstring)."""
    rows, cols = w.shape
    a = np.abs(w).astype(np.float64)
    k = round(density * rows * cols)
    if pattern == "unstructured":
        return _top(a, k)
    if pattern == "n:m":
        n = round(density * M)
        if cols % M or not 1 <= n <= M:
            raise ConfigError(f"n:m needs cols divisible by {M} and density x {M} in 1..{M}, "
                              f"found cols={cols}, density={density}")
        g = a.reshape(rows, cols // M, M)
        order = np.argsort(-g, axis=2)
        keep = np.zeros_like(g, bool)
        np.put_along_axis(keep, order[:, :, :n], True, axis=2)
        return keep.reshape(rows, cols)
    if pattern == "block":
        if rows % (num_pes * BLOCK):
            raise ConfigError(f"block needs rows divisible by num_pes x {BLOCK}, found {rows}")
        # (local row block, local row in block, pe, col)
        g = a.reshape(rows // (num_pes * BLOCK), BLOCK, num_pes, cols)
        norms = np.sqrt((g ** 2).sum(axis=1))  # (blocks, pe, col)
        kb = round(k / BLOCK)
        keep_b = _top(norms, kb)
        return np.broadcast_to(keep_b[:, None, :, :], g.shape).reshape(rows, cols).copy()
    if pattern == "balanced":
        keep = np.zeros((rows, cols), bool)
        per_pe = k // num_pes
        for pe in range(num_pes):
            keep[pe::num_pes] = _top(a[pe::num_pes], per_pe)
        return keep
    raise ConfigError(f"pattern should be one of {PATTERNS}, found {pattern!r}")


def block_csc_bits(m: Any, block: int = BLOCK) -> tuple[int, int]:
    """(EIE bits, block-CSC bits) of a matrix whose nonzeros come in ``block``-row blocks of
    one PE: EIE stores (weight + index) per entry, fillers included; block-CSC one index per
    block and ``block`` weights, with fillers every ``2**index_bits`` blocks of zeros."""
    eie_bits = m.num_entries * (m.weight_bits + m.index_bits)
    codes = m.to_codes()
    n = m.num_pes
    rows, cols = m.shape
    lrows = rows // n
    nz = codes.reshape(lrows // block, block, n, cols).any(axis=1)  # (local blocks, pe, col)
    blocks = int(nz.sum())
    # Fillers: a gap of g zero blocks before a kept block needs g // 2**index_bits fillers.
    span = 1 << m.index_bits
    fillers = 0
    cube = nz.transpose(1, 2, 0)  # (pe, col, local block)
    pe, col, lb = np.nonzero(cube)
    seg = pe.astype(np.int64) * cols + col
    prev = np.concatenate(([-1], lb[:-1]))
    first = np.concatenate(([True], seg[1:] != seg[:-1]))
    prev[first] = -1
    fillers = int(((lb - prev - 1) // span).sum())
    blk_bits = (blocks + fillers) * (block * m.weight_bits + m.index_bits)
    return eie_bits, blk_bits


def study(density: float = 0.125, rows: int = 1024, cols: int = 1024, act_density: float = 0.35,
          num_pes: int = 64, seed: int = 0) -> list[dict[str, Any]]:
    """One record per pattern (plus ``block-csc``): the same dense weights and input."""
    from eie.formats import EIEMatrix
    from eie.sim import HardwareConfig, simulate
    from eie.sim.area import breakdown

    rng = np.random.default_rng(seed)
    w = rng.normal(size=(rows, cols))
    x = np.where(rng.random(cols) < act_density, rng.random(cols) + 0.05, 0).astype(np.float32)
    codebook = np.concatenate(([0.0], np.linspace(-1, 1, 15))).astype(np.float32)
    codes_all = rng.integers(1, 16, size=(rows, cols), dtype=np.uint8)
    config = HardwareConfig(num_pes=num_pes)
    out = []
    for pattern in PATTERNS:
        mask = prune(w, density, pattern, num_pes)
        m = EIEMatrix.from_codes(np.where(mask, codes_all, 0), codebook, num_pes)
        r = simulate(m, x, config=config, name=pattern)
        work = r.pe_real_entries
        rec = {"pattern": pattern, "density": float(mask.mean()),
               "load_efficiency": r.load_efficiency, "cycles": r.cycles,
               "latency_us": r.latency_us, "energy_uj": r.energy_pj * 1e-6,
               "imbalance": float(work.max() / work.mean()) if work.mean() else 1.0,
               "storage_bits": m.num_entries * 8, "fillers": int(m.num_fillers),
               "spmat_sram_um2": breakdown(config).pe_modules_um2["sparse-matrix read"]}
        out.append(rec)
        if pattern == "block":  # the same layer stored as block-CSC, on the cycle loop
            from eie.sim.block_csc import simulate_block_csc

            _, blk_bits = block_csc_bits(m)
            b = simulate_block_csc(m, x, config, r.fmt)
            kb = max(1, int(np.ceil(config.spmat_sram_kb * blk_bits / (m.num_entries * 8))))
            out.append({**rec, "pattern": "block-csc", "storage_bits": blk_bits,
                        "cycles": b["cycles"], "latency_us": b["cycles"] / config.clock_mhz,
                        "load_efficiency": b["load_efficiency"],
                        "energy_uj": b["energy_pj"] * 1e-6,
                        "spmat_sram_um2": breakdown(config.replace(spmat_sram_kb=kb)
                                                    ).pe_modules_um2["sparse-matrix read"],
                        "index_overhead": 1 - density * rows * cols * 4 / blk_bits})
        rec["index_overhead"] = 1 - int(mask.sum()) * 4 / (m.num_entries * 8)
    return out
