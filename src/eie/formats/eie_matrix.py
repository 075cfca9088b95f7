"""EIE's interleaved compressed-sparse-column format for one layer (``EIEMatrix``).

Rows of W (rows = outputs, cols = inputs) are interleaved over ``num_pes`` PEs: global row ``i``
belongs to PE ``i % num_pes`` as local row ``i // num_pes``. Each PE stores its slice column by
column as *entries*, each a (code, rel_index) pair:

- ``code``: index into the layer's codebook (``weight_bits`` wide); 0 means zero and
  ``codebook[0] == 0.0``;
- ``rel_index``: zero local rows skipped since the previous entry of the same column (the first
  entry counts from local row 0); ``index_bits`` wide;
- a zero run longer than ``2**index_bits - 1`` inserts *filler* entries (code 0,
  rel_index ``2**index_bits - 1``), each advancing ``2**index_bits`` rows.

Decoding: ``local_row = cumsum(rel_index + 1) - 1`` within a column.

In memory the entries of all PEs are concatenated (one allocation, friendly to the C++ core):

- ``codes``, ``rel_index``: ``(num_entries,)`` uint8, PE 0's entries first;
- ``pe_offset``: ``(num_pes + 1,)`` int64, PE k owns ``[pe_offset[k], pe_offset[k+1])``;
- ``col_ptr``: ``(num_pes, cols + 1)`` int64, offsets relative to the PE's first entry.

Codebooks: one shared ``(K,)`` codebook (``group_rows == 0``, EIE's case), or one per group of
``group_rows`` consecutive output rows, ``codebook`` then ``(ceil(rows / group_rows), K)``
(``group_rows == 1``: per-row codebooks, as transformer layers quantized row by row need). Row
``r`` decodes code ``k`` as ``codebook[r // group_rows, k]``.

``zero_code`` (default True): code 0 is the zero weight (every codebook's entry 0 is 0.0) and
code-0 entries are fillers or pruned weights. ``zero_code=False`` is for dense layers whose
``2**weight_bits`` codes are all real values (a 16-entry 4-bit codebook with no entry spent on
zero): every weight is stored, one entry per (row, column), all ``rel_index`` 0, no fillers.

Worked example (rows=4, cols=2, 2 PEs, index_bits=2)::

    codes = [[1, 0],      PE 0 holds rows 0, 2   -> local rows 0, 1
             [0, 0],      PE 1 holds rows 1, 3   -> local rows 0, 1
             [0, 2],
             [3, 0]]
    PE 0: column 0 -> (code 1, rel 0); column 1 -> (code 2, rel 1)   col_ptr [0, 1, 2]
    PE 1: column 0 -> (code 3, rel 1); column 1 -> nothing           col_ptr [0, 1, 1]
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from eie.errors import FormatError
from eie.formats import _validate
from eie.formats.storage import StorageBreakdown, storage_breakdown


class PESlice(NamedTuple):
    """One PE's arrays (views, fillers included)."""

    codes: npt.NDArray[np.uint8]  # (entries,)
    rel_index: npt.NDArray[np.uint8]  # (entries,)
    col_ptr: npt.NDArray[np.int64]  # (cols + 1,)


@dataclass(frozen=True, eq=False)
class EIEMatrix:
    """One layer's weights in EIE's interleaved CSC format. Immutable; validated on construction.

    >>> import numpy as np
    >>> m = EIEMatrix.from_codes(np.array([[1, 0], [0, 0], [0, 2], [3, 0]]),
    ...                          np.array([0, 1.0, 2.0, 3.0], np.float32), num_pes=2, index_bits=2)
    >>> m.pe(0).codes.tolist(), m.pe(0).rel_index.tolist(), m.pe(0).col_ptr.tolist()
    ([1, 2], [0, 1], [0, 1, 2])
    """

    codes: npt.NDArray[np.uint8]
    rel_index: npt.NDArray[np.uint8]
    pe_offset: npt.NDArray[np.int64]
    col_ptr: npt.NDArray[np.int64]
    codebook: npt.NDArray[np.float32]
    shape: tuple[int, int]
    num_pes: int
    index_bits: int = 4
    weight_bits: int = 4
    group_rows: int = 0
    """0: one shared codebook; g >= 1: one codebook per g consecutive rows (2-D codebook)."""
    zero_code: bool = True
    """True: code 0 means zero (EIE); False: a dense layer, every code a real value."""

    def __post_init__(self) -> None:
        _validate.check_matrix(self)
        for arr in (self.codes, self.rel_index, self.pe_offset, self.col_ptr, self.codebook):
            arr.setflags(write=False)

    # ----------------------------------------------------------------------------- construction
    @classmethod
    def from_codes(
        cls,
        codes: npt.ArrayLike,
        codebook: npt.ArrayLike,
        num_pes: int,
        index_bits: int = 4,
        weight_bits: int | None = None,
    ) -> EIEMatrix:
        """Encode an integer ``(rows, cols)`` code matrix (0 = pruned) over ``num_pes`` PEs.

        ``weight_bits`` defaults to the fewest bits (at least 4) that index the codebook.
        """
        codebook_arr = _validate.as_codebook(codebook)
        wbits = _validate.default_weight_bits(len(codebook_arr), weight_bits)
        codes_arr = _validate.as_code_matrix(codes, len(codebook_arr))
        _validate.check_layout_params(num_pes, index_bits, wbits)
        rows, cols = codes_arr.shape
        enc_codes, enc_rel, pe_offset, col_ptr = encode_fast(codes_arr, num_pes, index_bits)
        return cls(enc_codes, enc_rel, pe_offset, col_ptr, codebook_arr, (rows, cols), num_pes,
                   index_bits, wbits)

    @classmethod
    def from_group_codes(
        cls,
        codes: npt.ArrayLike,
        codebooks: npt.ArrayLike,
        group_rows: int,
        num_pes: int = 1,
        zero_code: bool = True,
        index_bits: int = 4,
        weight_bits: int | None = None,
    ) -> EIEMatrix:
        """Encode a ``(rows, cols)`` code matrix whose rows ``[g * group_rows, (g + 1) *
        group_rows)`` decode through ``codebooks[g]`` (shape ``(ceil(rows / group_rows), K)``).

        ``zero_code=False``: every code is a real value (a dense layer using all ``K`` entries of
        each codebook); every weight is stored, code 0 included. ``zero_code=True``: code 0 is
        zero, each codebook's entry 0 must be 0.0, and zero weights are skipped (pruned layers).

        >>> import numpy as np
        >>> m = EIEMatrix.from_group_codes([[0, 1], [1, 0]], [[5.0, 6.0], [7.0, 8.0]],
        ...                                group_rows=1, zero_code=False)
        >>> m.to_dense().tolist()
        [[5.0, 6.0], [8.0, 7.0]]
        """
        if isinstance(group_rows, bool) or not isinstance(group_rows, int | np.integer) \
                or group_rows < 1:
            raise FormatError(f"group_rows should be a positive integer, found {group_rows!r}")
        cb = _validate.as_group_codebooks(codebooks, bool(zero_code))
        wbits = _validate.default_weight_bits(cb.shape[1], weight_bits)
        codes_arr = _validate.as_code_matrix(codes, cb.shape[1])
        _validate.check_layout_params(num_pes, index_bits, wbits)
        rows, cols = codes_arr.shape
        groups = -(-rows // int(group_rows)) if rows else 0
        if cb.shape[0] != groups:
            raise FormatError(f"{rows} rows in groups of {group_rows} need {groups} codebooks, "
                              f"found {cb.shape[0]}")
        arrays = (encode_fast(codes_arr, num_pes, index_bits) if zero_code
                  else encode_every_weight(codes_arr, int(num_pes)))
        return cls(*arrays, cb, (rows, cols), int(num_pes), int(index_bits), wbits,
                   int(group_rows), bool(zero_code))

    @classmethod
    def from_dense(
        cls,
        weights: npt.ArrayLike,
        codebook: npt.ArrayLike,
        num_pes: int,
        index_bits: int = 4,
        weight_bits: int | None = None,
    ) -> EIEMatrix:
        """Encode a float matrix: zeros stay zero, every nonzero weight maps to its nearest
        *nonzero* codebook entry (so no surviving weight is silently pruned)."""
        w = np.asarray(weights, dtype=np.float64)
        if w.ndim != 2:
            raise FormatError(f"weights should be a 2-D (rows, cols) array, found shape {w.shape}")
        if not np.all(np.isfinite(w)):
            raise FormatError("weights contain NaN or infinity; clean them before encoding")
        codebook_arr = _validate.as_codebook(codebook)
        return cls.from_codes(nearest_codes(w, codebook_arr), codebook_arr, num_pes, index_bits,
                              weight_bits)

    def with_num_pes(self, num_pes: int, index_bits: int | None = None) -> EIEMatrix:
        """The same weights re-laid over another PE count (and optionally index width)."""
        if num_pes == self.num_pes and index_bits in (None, self.index_bits):
            return self
        ibits = self.index_bits if index_bits is None else index_bits
        _validate.check_layout_params(num_pes, ibits, self.weight_bits)
        if not self.zero_code:
            arrays = encode_every_weight(self.to_codes(), int(num_pes))
            return EIEMatrix(*arrays, self.codebook, self.shape, int(num_pes), int(ibits),
                             self.weight_bits, self.group_rows, self.zero_code)
        from eie.formats._fast import reencode

        arrays = reencode(self, int(num_pes), int(ibits))
        return EIEMatrix(*arrays, self.codebook, self.shape, int(num_pes), int(ibits),
                         self.weight_bits, self.group_rows, self.zero_code)

    # ------------------------------------------------------------------------------- accessors
    @property
    def rows(self) -> int:
        return self.shape[0]

    @property
    def cols(self) -> int:
        return self.shape[1]

    def pe(self, k: int) -> PESlice:
        """PE ``k``'s codes, relative indices (fillers included) and column pointers."""
        if not 0 <= k < self.num_pes:
            raise IndexError(f"PE index should be in [0, {self.num_pes}), found {k}")
        lo, hi = int(self.pe_offset[k]), int(self.pe_offset[k + 1])
        return PESlice(self.codes[lo:hi], self.rel_index[lo:hi], self.col_ptr[k])

    def local_rows(self, k: int) -> int:
        """Number of rows PE ``k`` holds (0 when rows < num_pes and k >= rows)."""
        return 0 if k >= self.rows else (self.rows - k + self.num_pes - 1) // self.num_pes

    @property
    def num_entries(self) -> int:
        """Stored entries, fillers included."""
        return int(self.codes.shape[0])

    @functools.cached_property
    def nnz(self) -> int:
        """Real entries: nonzero-code ones, or all of them when ``zero_code`` is False (counted
        once: the arrays are immutable)."""
        if not self.zero_code:
            return self.num_entries
        return int(np.count_nonzero(self.codes))

    @property
    def num_fillers(self) -> int:
        return self.num_entries - self.nnz

    @property
    def density(self) -> float:
        """Fraction of nonzero weights."""
        size = self.rows * self.cols
        return self.nnz / size if size else 0.0

    def entries_per_pe(self) -> npt.NDArray[np.int64]:
        """``(num_pes,)`` stored entries per PE (fillers included): the PEs' work."""
        return np.diff(self.pe_offset)

    # ------------------------------------------------------------------------------ conversion
    def to_codes(self) -> npt.NDArray[np.uint8]:
        """Decode to the ``(rows, cols)`` uint8 code matrix (0 = pruned). Runs in the C++ core."""
        from eie.formats._fast import decode_to_codes

        return decode_to_codes(self)

    def to_dense(self) -> npt.NDArray[np.float32]:
        """Decode to the float32 ``(rows, cols)`` weight matrix."""
        if self.group_rows == 0:
            return self.codebook[self.to_codes()]
        group = np.arange(self.rows) // self.group_rows
        return self.codebook[group[:, None], self.to_codes()]

    @property
    def codebook_len(self) -> int:
        """Entries per codebook (K)."""
        return int(self.codebook.shape[-1])

    def row_codebooks(self) -> npt.NDArray[np.float32]:
        """``(rows, K)``: the codebook each row decodes through."""
        if self.group_rows == 0:
            return np.broadcast_to(self.codebook, (self.rows, self.codebook_len))
        return self.codebook[np.arange(self.rows) // self.group_rows]

    def storage(self, pointer_bits: int | None = None) -> StorageBreakdown:
        """Bits and bytes per category (codes, relative indices, fillers, pointers, codebook)."""
        return storage_breakdown(self, pointer_bits)

    def __repr__(self) -> str:
        return (f"EIEMatrix(shape={self.shape}, num_pes={self.num_pes}, nnz={self.nnz}, "
                f"fillers={self.num_fillers}, density={self.density:.4f}, "
                f"index_bits={self.index_bits}, weight_bits={self.weight_bits}"
                + (f", group_rows={self.group_rows}" if self.group_rows else "")
                + ("" if self.zero_code else ", zero_code=False") + ")")

    def equals(self, other: EIEMatrix) -> bool:
        """Exact equality of every array and parameter."""
        return (self.shape == other.shape and self.num_pes == other.num_pes
                and self.index_bits == other.index_bits and self.weight_bits == other.weight_bits
                and self.group_rows == other.group_rows and self.zero_code == other.zero_code
                and np.array_equal(self.codes, other.codes)
                and np.array_equal(self.rel_index, other.rel_index)
                and np.array_equal(self.pe_offset, other.pe_offset)
                and np.array_equal(self.col_ptr, other.col_ptr)
                and np.array_equal(self.codebook, other.codebook))


def nearest_codes(weights: npt.NDArray[np.float64], codebook: npt.NDArray[np.float32]
                  ) -> npt.NDArray[np.int64]:
    """Code of the nearest nonzero codebook entry for every nonzero weight; 0 for zeros."""
    if len(codebook) < 2:
        raise FormatError("the codebook needs at least one nonzero entry besides entry 0 (zero)")
    centers = codebook[1:].astype(np.float64)
    order = np.argsort(centers, kind="stable")
    sorted_c = centers[order]
    flat = weights.ravel()
    pos = np.clip(np.searchsorted(sorted_c, flat), 1, len(sorted_c) - 1) if len(sorted_c) > 1 \
        else np.zeros(flat.shape, np.int64)
    if len(sorted_c) > 1:
        left = sorted_c[pos - 1]
        right = sorted_c[pos]
        pos = np.where(np.abs(flat - left) <= np.abs(flat - right), pos - 1, pos)
    out = order[pos] + 1
    out[flat == 0] = 0
    return out.reshape(weights.shape)


def encode_fast(codes: npt.NDArray[np.uint8], num_pes: int, index_bits: int
                ) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8], npt.NDArray[np.int64],
                           npt.NDArray[np.int64]]:
    """The C++ encoder (linear time, two row-major passes; same arrays as ``encode``)."""
    import eie._core as _core

    return _core.encode_codes(np.ascontiguousarray(codes, dtype=np.uint8), int(num_pes),
                              int(index_bits))


def encode_every_weight(codes: npt.NDArray[np.uint8], num_pes: int
                        ) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8],
                                   npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """EIE arrays storing every weight, code 0 included (``zero_code=False`` layers): PE k's
    column c holds its local rows 0.. in order, all ``rel_index`` 0, no fillers."""
    rows, cols = codes.shape
    lrows = -(-rows // num_pes) if rows else 0
    padded = np.zeros((lrows * num_pes, cols), np.uint8)
    padded[:rows] = codes
    cube = padded.reshape(lrows, num_pes, cols).transpose(1, 2, 0)  # (pe, col, local row)
    valid = (np.arange(lrows * num_pes) < rows).reshape(lrows, num_pes).T  # (pe, local row)
    out_codes = np.ascontiguousarray(cube[np.broadcast_to(valid[:, None, :], cube.shape)])
    per_pe = valid.sum(axis=1).astype(np.int64)  # local rows of each PE
    col_ptr = np.ascontiguousarray(per_pe[:, None] * np.arange(cols + 1, dtype=np.int64))
    pe_offset = np.zeros(num_pes + 1, np.int64)
    np.cumsum(per_pe * cols, out=pe_offset[1:])
    return out_codes, np.zeros(len(out_codes), np.uint8), pe_offset, col_ptr


def encode(codes: npt.NDArray[np.uint8], num_pes: int, index_bits: int
           ) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8], npt.NDArray[np.int64],
                      npt.NDArray[np.int64]]:
    """Reference encoder (vectorized numpy). Returns (codes, rel_index, pe_offset, col_ptr).

    All PEs at once: pad rows to a multiple of num_pes, view as (lrows, num_pes, cols), transpose
    to (num_pes, cols, lrows); np.nonzero then yields entries sorted by (pe, col, local row).
    """
    rows, cols = codes.shape
    lrows = -(-rows // num_pes) if rows else 0
    padded = np.zeros((lrows * num_pes, cols), np.uint8)
    padded[:rows] = codes
    cube = padded.reshape(lrows, num_pes, cols).transpose(1, 2, 0)  # (pe, col, local row)
    pe, col, lrow = np.nonzero(cube)
    values = cube[pe, col, lrow]
    n = len(values)
    seg = pe.astype(np.int64) * cols + col  # segment = (pe, col), non-decreasing
    new_seg = np.ones(n, bool)
    new_seg[1:] = seg[1:] != seg[:-1]
    prev = np.empty(n, np.int64)
    prev[0:1] = -1
    prev[1:] = lrow[:-1]
    prev[new_seg] = -1
    gap = lrow - prev - 1  # zero rows skipped before this entry
    span = 1 << index_bits
    n_fill = gap // span
    rel = gap % span
    # Entry i lands after all earlier entries and fillers, and its own fillers.
    pos = np.arange(n, dtype=np.int64) + np.cumsum(n_fill)
    total = n + int(n_fill.sum())
    out_codes = np.zeros(total, np.uint8)
    out_rel = np.full(total, span - 1, np.uint8)
    out_codes[pos] = values
    out_rel[pos] = rel
    per_seg = np.bincount(seg, weights=1 + n_fill, minlength=num_pes * cols).astype(np.int64)
    per_seg = per_seg.reshape(num_pes, cols)
    col_ptr = np.zeros((num_pes, cols + 1), np.int64)
    np.cumsum(per_seg, axis=1, out=col_ptr[:, 1:])
    pe_offset = np.zeros(num_pes + 1, np.int64)
    np.cumsum(col_ptr[:, -1], out=pe_offset[1:])
    return out_codes, out_rel, pe_offset, col_ptr


def decode_reference(m: EIEMatrix) -> npt.NDArray[np.uint8]:
    """Reference decoder (numpy, no validation): ``row = cumsum(rel_index + 1) - 1`` per column.

    The C++ core's ``decode_to_codes`` (which also validates) is tested against this.
    """
    out = np.zeros(m.shape, np.uint8)
    if m.num_entries == 0:
        return out
    cols = m.cols
    # Segment id (pe * cols + col) of every entry, from the pointers.
    seg_len = np.diff(m.col_ptr, axis=1).ravel()
    seg = np.repeat(np.arange(m.num_pes * cols, dtype=np.int64), seg_len)
    steps = m.rel_index.astype(np.int64) + 1
    csum = np.cumsum(steps)
    seg_start = np.concatenate(([0], np.cumsum(seg_len)[:-1]))
    base = np.concatenate(([0], csum))[seg_start][seg]
    local_row = csum - base - 1
    pe = seg // cols
    col = seg % cols
    row = local_row * m.num_pes + pe
    real = m.codes != 0
    out[row[real], col[real]] = m.codes[real]
    return out
