"""The bias as one more column: EIE broadcasts it like an activation of 1.0 (the authors' data
layout stores ``cols + 1`` pointer columns, the last one the bias), so it costs a broadcast, one
entry per nonzero bias per PE, its fillers and its cycles.

``with_bias_column(m, nonzero)`` appends that column to the layout: entries (a placeholder code 1;
the simulator adds the bias itself, at the accumulator's scale) at the rows where ``nonzero`` is
true, with fillers for zero runs longer than the index width allows, after each PE's own entries.

>>> import numpy as np
>>> from eie.formats import EIEMatrix
>>> m = EIEMatrix.from_codes([[1, 0], [0, 2]], np.array([0, 0.5, -1], np.float32), num_pes=2)
>>> mb = with_bias_column(m, np.array([True, False]))
>>> mb.shape, mb.pe(0).col_ptr.tolist(), mb.pe(1).col_ptr.tolist()
((2, 3), [0, 1, 1, 2], [0, 0, 1, 1])
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from eie.formats.eie_matrix import EIEMatrix, encode


def with_bias_column(m: EIEMatrix, nonzero: npt.NDArray[np.bool_]) -> EIEMatrix:
    """``m`` with a last column holding an entry (code 1) at every row where ``nonzero``."""
    mask = np.asarray(nonzero, bool)
    if mask.shape != (m.rows,):
        raise ValueError(f"nonzero should have shape ({m.rows},), found {mask.shape}")
    b_codes, b_rel, _, b_ptr = encode(mask.astype(np.uint8).reshape(-1, 1), m.num_pes,
                                      m.index_bits)
    n = m.num_pes
    own = np.diff(m.pe_offset)            # (n,) entries per PE without the bias column
    extra = b_ptr[:, 1] - b_ptr[:, 0]     # (n,) bias-column entries per PE (fillers included)
    pe_offset = np.zeros(n + 1, np.int64)
    np.cumsum(own + extra, out=pe_offset[1:])
    total = int(pe_offset[-1])
    codes = np.empty(total, np.uint8)
    rel = np.empty(total, np.uint8)
    # Where each old entry and each bias entry lands: PE k's block starts at pe_offset[k].
    old_pe = np.repeat(np.arange(n), own)
    old_dst = np.arange(m.num_entries, dtype=np.int64) - m.pe_offset[old_pe] + pe_offset[old_pe]
    codes[old_dst] = m.codes
    rel[old_dst] = m.rel_index
    b_start = np.concatenate(([0], np.cumsum(extra)[:-1]))
    b_pe = np.repeat(np.arange(n), extra)
    b_dst = (np.arange(int(extra.sum()), dtype=np.int64) - b_start[b_pe] + pe_offset[b_pe]
             + own[b_pe])
    codes[b_dst] = b_codes
    rel[b_dst] = b_rel
    col_ptr = np.empty((n, m.cols + 2), np.int64)
    col_ptr[:, :-1] = m.col_ptr
    col_ptr[:, -1] = m.col_ptr[:, -1] + extra
    # A one-entry codebook (all weights zero) gets a placeholder entry for code 1.
    codebook = m.codebook if len(m.codebook) >= 2 else np.zeros(2, np.float32)
    return EIEMatrix(codes, rel, pe_offset, col_ptr, codebook, (m.rows, m.cols + 1), n,
                     m.index_bits, max(m.weight_bits, 1))
