"""Small builders shared by the simulator tests."""

from __future__ import annotations

import numpy as np

from eie.formats import EIEMatrix

CODEBOOK = np.array([0.0, 0.5, -0.25, 0.75, -1.0, 0.125, 1.5, -0.5,
                     0.25, -0.125, 1.0, -0.75, 0.0625, 2.0, -2.0, 0.375], np.float32)


def matrix_from_pe_rows(rows: int, cols: int, num_pes: int,
                        entries: dict[tuple[int, int], list[int]], index_bits: int = 4,
                        code: int | None = None) -> EIEMatrix:
    """``entries[(pe, col)] = [local rows]``: each listed weight gets a nonzero code (``code``,
    or cycling through 1..15 so values differ)."""
    codes = np.zeros((rows, cols), np.uint8)
    c = 0
    for (k, j), lrows in sorted(entries.items()):
        for lr in lrows:
            codes[lr * num_pes + k, j] = code if code is not None else c % 15 + 1
            c += 1
    return EIEMatrix.from_codes(codes, CODEBOOK, num_pes=num_pes, index_bits=index_bits)
