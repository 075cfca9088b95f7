"""Fixed-width bit packing of unsigned integers (little-endian bit order), for the .eie file.

Value ``i`` occupies bits ``[i * bits, (i + 1) * bits)`` of the stream, least significant bit
first; the last byte is zero-padded.

>>> raw = pack(np.array([1, 2, 3], np.uint8), 2)
>>> raw.tolist(), unpack(raw, 2, 3).tolist()
([57], [1, 2, 3])
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from eie.errors import FormatError

_CHUNK = 1 << 20  # values per chunk: bounds the temporary bit array to bits * 1 MiB


def packed_size(count: int, bits: int) -> int:
    """Bytes that ``count`` values of ``bits`` bits take."""
    return (count * bits + 7) // 8


def pack(values: npt.ArrayLike, bits: int) -> npt.NDArray[np.uint8]:
    """Pack non-negative integers that fit in ``bits`` (1..64) bits."""
    if not 1 <= bits <= 64:
        raise FormatError(f"bits should be in 1..64, found {bits}")
    v = np.asarray(values).astype(np.uint64, copy=False).ravel()
    if v.size and bits < 64 and int(v.max()) >> bits:
        raise FormatError(f"value {int(v.max())} does not fit in {bits} bits")
    if bits == 8:
        return v.astype(np.uint8)
    shifts = np.arange(bits, dtype=np.uint64)
    parts = []
    # Chunks hold a multiple of 8 values, so every chunk ends on a byte boundary.
    for start in range(0, v.size, _CHUNK):
        chunk = v[start:start + _CHUNK]
        bit_matrix = ((chunk[:, None] >> shifts) & np.uint64(1)).astype(np.uint8)
        parts.append(np.packbits(bit_matrix.ravel(), bitorder="little"))
    return np.concatenate(parts) if parts else np.zeros(0, np.uint8)


def unpack(raw: npt.NDArray[np.uint8], bits: int, count: int) -> npt.NDArray[np.uint64]:
    """Inverse of ``pack``; checks the stream has exactly the expected length."""
    if not 1 <= bits <= 64:
        raise FormatError(f"bits should be in 1..64, found {bits}")
    expected = packed_size(count, bits)
    if raw.size != expected:
        raise FormatError(f"packed stream should be {expected} bytes for {count} values of "
                          f"{bits} bits, found {raw.size} (truncated or corrupted?)")
    if bits == 8:
        return raw.astype(np.uint64)
    weights = np.left_shift(np.uint64(1), np.arange(bits, dtype=np.uint64))
    out = np.empty(count, np.uint64)
    for start in range(0, count, _CHUNK):
        stop = min(count, start + _CHUNK)
        lo, hi = start * bits // 8, packed_size(stop, bits)
        bit_arr = np.unpackbits(raw[lo:hi], bitorder="little")[: (stop - start) * bits]
        out[start:stop] = bit_arr.reshape(-1, bits).astype(np.uint64) @ weights
    return out
