"""Canonical Huffman coding of EIE's code and relative-index streams (numpy only, no torch).

Deep Compression's last stage: the weight codes and the relative indices of a layer are not
uniformly distributed (a few centroids and short gaps dominate), so a prefix code per stream
saves a further 20-30%. Each layer gets two codes, one for its ``codes`` stream and one for its
``rel_index`` stream (fillers included, as stored).

- ``HuffmanCode.from_counts(counts)``: optimal code lengths (capped at ``MAX_CODE_LENGTH`` bits),
  canonical code words (shorter first, then by symbol), so only the lengths need storing;
- ``HuffmanCode.encode(values) -> (bytes, nbits)`` / ``decode(data, nbits, count)``: a real
  MSB-first bitstream, round-trip exact (``decode`` is the reference, in numpy and Python);
- ``HuffmanCode.decode_fast(data, nbits, count)``: the same symbols as ``uint8`` from the C++
  core's table-driven decoder (alphabets up to 256 symbols, as in ``.eie`` files), in bounded
  memory (the output plus a table of at most 2**16 entries) and time (one lookup per symbol);
  what ``eie.load`` uses;
- ``huffman_storage(matrix)``: a layer's storage before and after Huffman, in bits per category,
  with bits per weight / per index and Deep Compression's compression ratio both ways.

The code table of a stream is stored as one ``LENGTH_FIELD_BITS``-bit length per symbol of the
alphabet (``2**weight_bits`` or ``2**index_bits`` symbols); its bits are counted. Column pointers
are counted as in ``StorageBreakdown`` (entry offsets): Deep Compression does not count the
wider bit offsets a decoder would need to start a column in the middle of a Huffman stream.

>>> import numpy as np
>>> hc = HuffmanCode.from_counts(np.array([5, 1, 1, 2]))
>>> hc.lengths.tolist()
[1, 3, 3, 2]
>>> data, nbits = hc.encode(np.array([0, 0, 3, 1]))
>>> hc.decode(data, nbits, 4).tolist()
[0, 0, 3, 1]
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from eie.errors import FormatError
from eie.formats.storage import CODEBOOK_VALUE_BITS, StorageBreakdown

if TYPE_CHECKING:
    from eie.formats.eie_matrix import EIEMatrix

MAX_CODE_LENGTH = 16
"""Longest code word; longer optimal codes are flattened (decode uses a 2**16 lookup table)."""
LENGTH_FIELD_BITS = 5
"""Bits per symbol of a stored code table (a length in 0..16)."""


def code_lengths(counts: npt.ArrayLike, max_length: int = MAX_CODE_LENGTH) -> npt.NDArray[np.int64]:
    """Huffman code length per symbol (0 for symbols that never occur).

    A single used symbol gets length 1. When the optimal code is longer than ``max_length``,
    counts are halved (keeping them >= 1) until it fits: still a valid prefix code, near optimal.
    """
    c = np.asarray(counts, dtype=np.int64)
    if c.ndim != 1 or (c.size and int(c.min()) < 0):
        raise FormatError(f"counts should be a 1-D array of non-negative integers, found {c!r}")
    used = np.flatnonzero(c)
    lengths = np.zeros(len(c), np.int64)
    if len(used) == 0:
        return lengths
    if len(used) == 1:
        lengths[used[0]] = 1
        return lengths
    if len(used) > 1 << max_length:
        raise FormatError(f"{len(used)} symbols cannot fit codes of at most {max_length} bits")
    work = c[used].copy()
    while True:
        depth = _huffman_depths(work)
        if int(depth.max()) <= max_length:
            lengths[used] = depth
            return lengths
        work = np.maximum(work >> 1, 1)


def _huffman_depths(weights: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    # Classic heap construction; ties broken by insertion order so the result is deterministic.
    n = len(weights)
    heap: list[tuple[int, int, int]] = [(int(w), i, i) for i, w in enumerate(weights)]
    heapq.heapify(heap)
    parent = np.full(2 * n - 1, -1, np.int64)
    nxt = n
    while len(heap) > 1:
        w1, _, a = heapq.heappop(heap)
        w2, _, b = heapq.heappop(heap)
        parent[a] = parent[b] = nxt
        heapq.heappush(heap, (w1 + w2, nxt, nxt))
        nxt += 1
    depth = np.zeros(2 * n - 1, np.int64)
    for node in range(2 * n - 3, -1, -1):  # parents have larger ids than children
        depth[node] = depth[parent[node]] + 1
    return depth[:n]


def canonical_codewords(lengths: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Canonical code words: sorted by (length, symbol), each the previous + 1, shifted left
    when the length grows. Symbols of length 0 get 0 (unused)."""
    words = np.zeros(len(lengths), np.int64)
    order = sorted((int(L), s) for s, L in enumerate(lengths) if L > 0)
    code = 0
    prev_len = order[0][0] if order else 0
    for i, (L, s) in enumerate(order):
        if i:
            code = (code + 1) << (L - prev_len)
        words[s] = code
        prev_len = L
    return words


def kraft_sum(lengths: npt.ArrayLike) -> float:
    """``sum(2**-L)`` over used symbols: <= 1 for every prefix code, == 1 for a complete one."""
    L = np.asarray(lengths, dtype=np.int64)
    L = L[L > 0]
    return float(np.sum(np.ldexp(1.0, -L)))


@dataclass(frozen=True, eq=False)
class HuffmanCode:
    """A canonical prefix code over symbols ``0 .. len(lengths) - 1``."""

    lengths: npt.NDArray[np.int64]
    """``(alphabet,)`` bits per symbol; 0 = symbol never occurs (cannot be encoded)."""

    @classmethod
    def from_counts(cls, counts: npt.ArrayLike, max_length: int = MAX_CODE_LENGTH) -> HuffmanCode:
        return cls(code_lengths(counts, max_length))

    @classmethod
    def from_values(cls, values: npt.ArrayLike, alphabet: int) -> HuffmanCode:
        """Code fitted to the symbol frequencies of ``values`` (integers in ``[0, alphabet)``)."""
        v = np.asarray(values, dtype=np.int64).ravel()
        if v.size and (int(v.min()) < 0 or int(v.max()) >= alphabet):
            raise FormatError(f"values should be in [0, {alphabet}), found "
                              f"[{int(v.min())}, {int(v.max())}]")
        return cls.from_counts(np.bincount(v, minlength=alphabet))

    @property
    def codewords(self) -> npt.NDArray[np.int64]:
        return canonical_codewords(self.lengths)

    @property
    def table_bits(self) -> int:
        """Bits to store this code: one length field per alphabet symbol."""
        return len(self.lengths) * LENGTH_FIELD_BITS

    def encoded_bits(self, values: npt.ArrayLike) -> int:
        """Length in bits of the encoded stream, without building it."""
        v = np.asarray(values, dtype=np.int64).ravel()
        return int(self.lengths[v].sum()) if v.size else 0

    def encode(self, values: npt.ArrayLike) -> tuple[npt.NDArray[np.uint8], int]:
        """MSB-first bitstream of the code words of ``values``; returns (bytes, number of bits)."""
        v = np.asarray(values, dtype=np.int64).ravel()
        if v.size == 0:
            return np.zeros(0, np.uint8), 0
        if int(v.min()) < 0 or int(v.max()) >= len(self.lengths) or \
                np.any(self.lengths[v] == 0):
            raise FormatError("a value has no code word in this Huffman code; build the code "
                              "from counts that include every value to encode")
        L = self.lengths[v]
        words = self.codewords[v]
        total = int(L.sum())
        starts = np.cumsum(L) - L
        owner = np.repeat(np.arange(v.size), L)  # (total,) which value each bit belongs to
        pos = np.arange(total, dtype=np.int64) - starts[owner]
        bits = (words[owner] >> (L[owner] - 1 - pos)) & 1
        return np.packbits(bits.astype(np.uint8)), total

    def decode(self, data: npt.ArrayLike, nbits: int, count: int) -> npt.NDArray[np.int64]:
        """Decode ``count`` symbols from the first ``nbits`` bits of ``data``."""
        raw = np.asarray(data, dtype=np.uint8)
        if nbits > raw.size * 8:
            raise FormatError(f"stream has {raw.size * 8} bits, header says {nbits}")
        if count == 0:
            return np.zeros(0, np.int64)
        used = np.flatnonzero(self.lengths)
        if len(used) == 0:
            raise FormatError("cannot decode with an empty Huffman code")
        lmax = int(self.lengths.max())
        # Lookup table indexed by the next lmax bits: every word prefix-fills its range.
        table_sym = np.full(1 << lmax, -1, np.int64)
        table_len = np.zeros(1 << lmax, np.int64)
        words = self.codewords
        for s in used:
            L = int(self.lengths[s])
            lo = int(words[s]) << (lmax - L)
            table_sym[lo:lo + (1 << (lmax - L))] = s
            table_len[lo:lo + (1 << (lmax - L))] = L
        bits = np.unpackbits(raw)[:nbits].astype(np.int64)
        padded = np.concatenate([bits, np.zeros(lmax, np.int64)])
        # window[p] = integer value of bits p .. p + lmax - 1 (zero padded past the end)
        window = np.zeros(nbits + 1, np.int64)
        for j in range(lmax):
            window = (window << 1) | padded[j:j + nbits + 1]
        win = window.tolist()
        sym_t, len_t = table_sym.tolist(), table_len.tolist()
        out: list[int] = [0] * count
        p = 0
        for i in range(count):
            if p >= nbits:
                raise FormatError(f"Huffman stream ended after {i} of {count} symbols")
            w: int = win[p]
            sym: int = sym_t[w]
            if sym < 0:
                raise FormatError(f"invalid Huffman code word at bit {p}")
            out[i] = sym
            p += len_t[w]
        if p > nbits:
            raise FormatError("last Huffman code word runs past the end of the stream")
        return np.asarray(out, np.int64)

    def decode_fast(self, data: npt.ArrayLike, nbits: int, count: int) -> npt.NDArray[np.uint8]:
        """``decode`` in the C++ core: ``count`` symbols as ``uint8`` (alphabet <= 256).

        The code (lengths 0..16, a prefix code) and the sizes (``count <= nbits <= 8 *
        len(data)``) are checked before the output is allocated, so it never exceeds the stream's
        bit count; every error is a ``FormatError``.
        """
        import eie._core as _core

        raw = np.ascontiguousarray(data, dtype=np.uint8).ravel()
        L = self.lengths
        if not 1 <= L.size <= 256 or int(L.min()) < 0 or int(L.max()) > MAX_CODE_LENGTH:
            raise FormatError(f"the fast Huffman decoder takes 1..256 code lengths in "
                              f"0..{MAX_CODE_LENGTH}, found {L.size} in "
                              f"{int(L.min(initial=0))}..{int(L.max(initial=0))}")
        if type(nbits) is not int or not 0 <= nbits <= raw.size * 8:
            raise FormatError(f"stream has {raw.size * 8} bits, header says {nbits!r}")
        if type(count) is not int or not 0 <= count <= nbits:
            raise FormatError(f"{count!r} values cannot fit in {nbits} Huffman bits")
        out = np.empty(count, np.uint8)
        try:
            _core.huffman_decode(raw, nbits, np.ascontiguousarray(L, dtype=np.uint8), out)
        except ValueError as e:
            raise FormatError(str(e)) from None
        return out


@dataclass(frozen=True)
class HuffmanStorage:
    """A layer's (or a model's, via ``+``) storage before and after Huffman coding, in bits."""

    before: StorageBreakdown
    """Fixed-width storage (``EIEMatrix.storage()``)."""
    codes_bits: int
    """Huffman bits of the real entries' codes."""
    rel_index_bits: int
    """Huffman bits of the real entries' relative indices."""
    fillers_bits: int
    """Huffman bits of the filler entries (their code and their index)."""
    tables_bits: int
    """The two code tables (code lengths)."""

    @property
    def pointers_bits(self) -> int:
        return self.before.pointers_bits

    @property
    def codebook_bits(self) -> int:
        return self.before.codebook_bits

    @property
    def total_bits(self) -> int:
        return (self.codes_bits + self.rel_index_bits + self.fillers_bits + self.tables_bits
                + self.pointers_bits + self.codebook_bits)

    @property
    def compression_ratio(self) -> float:
        """Original fp32 bits / everything stored after Huffman (Deep Compression's P+Q+H)."""
        return self.before.dense_fp32_bits / self.total_bits if self.total_bits else float("inf")

    @property
    def compression_ratio_no_huffman(self) -> float:
        """The same ratio with fixed-width codes and indices (Deep Compression's P+Q)."""
        return self.before.compression_ratio

    @property
    def bits_per_weight(self) -> float:
        """Average Huffman bits per real weight code (fillers excluded)."""
        return self.codes_bits / self.before.nnz if self.before.nnz else 0.0

    @property
    def bits_per_index(self) -> float:
        return self.rel_index_bits / self.before.nnz if self.before.nnz else 0.0

    @property
    def bits_per_weight_no_huffman(self) -> float:
        return self.before.codes_bits / self.before.nnz if self.before.nnz else 0.0

    @property
    def bits_per_index_no_huffman(self) -> float:
        return self.before.rel_index_bits / self.before.nnz if self.before.nnz else 0.0

    def __add__(self, other: HuffmanStorage) -> HuffmanStorage:
        return HuffmanStorage(self.before + other.before, self.codes_bits + other.codes_bits,
                              self.rel_index_bits + other.rel_index_bits,
                              self.fillers_bits + other.fillers_bits,
                              self.tables_bits + other.tables_bits)

    def as_dict(self) -> dict[str, float]:
        return {
            "codes_bits": self.codes_bits, "rel_index_bits": self.rel_index_bits,
            "fillers_bits": self.fillers_bits, "tables_bits": self.tables_bits,
            "pointers_bits": self.pointers_bits, "codebook_bits": self.codebook_bits,
            "total_bits": self.total_bits, "total_bits_no_huffman": self.before.total_bits,
            "compression_ratio": self.compression_ratio,
            "compression_ratio_no_huffman": self.compression_ratio_no_huffman,
            "bits_per_weight": self.bits_per_weight, "bits_per_index": self.bits_per_index,
            "bits_per_weight_no_huffman": self.bits_per_weight_no_huffman,
            "bits_per_index_no_huffman": self.bits_per_index_no_huffman,
        }


def layer_codes(m: EIEMatrix) -> tuple[HuffmanCode, HuffmanCode]:
    """The Huffman codes of a layer's ``codes`` and ``rel_index`` streams (fillers included)."""
    return (HuffmanCode.from_values(m.codes, 1 << m.weight_bits),
            HuffmanCode.from_values(m.rel_index, 1 << m.index_bits))


def huffman_storage(m: EIEMatrix, pointer_bits: int | None = None) -> HuffmanStorage:
    """Storage of one layer with Huffman-coded code and relative-index streams.

    >>> import numpy as np
    >>> from eie.formats import EIEMatrix
    >>> m = EIEMatrix.from_codes(np.array([[1, 1, 1, 2]]), np.array([0, 1, 2], np.float32), 1)
    >>> s = huffman_storage(m)
    >>> s.codes_bits, s.before.codes_bits   # 3 x 1 bit + 1 x 1 bit against 4 x 4 bits
    (4, 16)
    """
    before = m.storage(pointer_bits)
    hc_codes, hc_rel = layer_codes(m)
    real = m.codes != 0
    code_len = hc_codes.lengths[m.codes.astype(np.int64)]
    rel_len = hc_rel.lengths[m.rel_index.astype(np.int64)]
    return HuffmanStorage(
        before=before,
        codes_bits=int(code_len[real].sum()),
        rel_index_bits=int(rel_len[real].sum()),
        fillers_bits=int(code_len[~real].sum() + rel_len[~real].sum()),
        tables_bits=(hc_codes.table_bits + hc_rel.table_bits) if m.num_entries else 0,
    )


__all__ = ["CODEBOOK_VALUE_BITS", "LENGTH_FIELD_BITS", "MAX_CODE_LENGTH", "HuffmanCode",
           "HuffmanStorage", "canonical_codewords", "code_lengths", "huffman_storage",
           "kraft_sum", "layer_codes"]
