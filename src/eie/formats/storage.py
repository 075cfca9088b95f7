"""Exact storage accounting of an EIE layer, in bits, per category.

Categories (Deep Compression counts all of them against the original fp32 weights):

- ``codes``: one ``weight_bits`` code per real entry;
- ``rel_index``: one ``index_bits`` relative index per real entry;
- ``fillers``: filler entries, ``weight_bits + index_bits`` each;
- ``pointers``: ``num_pes * (cols + 1)`` column pointers of ``pointer_bits`` each
  (default 16 as in the EIE hardware, widened when a PE holds 2**16 or more entries);
- ``codebook``: the codebook as fp32 values.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from eie.formats.eie_matrix import EIEMatrix

DEFAULT_POINTER_BITS = 16
CODEBOOK_VALUE_BITS = 32
CATEGORIES = ("codes", "rel_index", "fillers", "pointers", "codebook")


@dataclass(frozen=True)
class StorageBreakdown:
    """Bits per category; ``+`` adds two breakdowns (e.g. layers of a model)."""

    codes_bits: int
    rel_index_bits: int
    fillers_bits: int
    pointers_bits: int
    codebook_bits: int
    dense_fp32_bits: int
    """What the same weights take as a dense fp32 matrix (the baseline of compression_ratio)."""
    nnz: int
    num_fillers: int
    num_pointers: int

    @property
    def total_bits(self) -> int:
        return (self.codes_bits + self.rel_index_bits + self.fillers_bits + self.pointers_bits
                + self.codebook_bits)

    @property
    def total_bytes(self) -> float:
        return self.total_bits / 8

    @property
    def compression_ratio(self) -> float:
        """Dense fp32 bits / stored bits (Deep Compression's definition)."""
        return self.dense_fp32_bits / self.total_bits if self.total_bits else float("inf")

    def bits(self, category: str) -> int:
        """Bits of one of ``CATEGORIES``."""
        if category not in CATEGORIES:
            raise KeyError(f"unknown storage category {category!r}; expected one of {CATEGORIES}")
        return int(getattr(self, f"{category}_bits"))

    def __add__(self, other: StorageBreakdown) -> StorageBreakdown:
        return StorageBreakdown(**{f.name: getattr(self, f.name) + getattr(other, f.name)
                                   for f in fields(self)})

    def as_dict(self) -> dict[str, float]:
        d: dict[str, float] = dict(asdict(self))
        d["total_bits"] = self.total_bits
        d["total_bytes"] = self.total_bytes
        d["compression_ratio"] = self.compression_ratio
        return d


def pointer_bits_needed(max_entries_per_pe: int) -> int:
    """Default pointer width: 16 bits, or wider when a PE's entry count does not fit."""
    return max(DEFAULT_POINTER_BITS, int(max_entries_per_pe).bit_length())


def storage_breakdown(m: EIEMatrix, pointer_bits: int | None = None) -> StorageBreakdown:
    per_pe = m.entries_per_pe()
    needed = pointer_bits_needed(int(per_pe.max()) if len(per_pe) else 0)
    pbits = needed if pointer_bits is None else pointer_bits
    if pbits < int(per_pe.max(initial=0)).bit_length():
        from eie.errors import ConfigError

        raise ConfigError(f"pointer_bits={pbits} cannot address {int(per_pe.max())} entries; "
                          f"use at least {int(per_pe.max()).bit_length()}")
    nnz = m.nnz
    fillers = m.num_entries - nnz
    num_pointers = m.num_pes * (m.cols + 1)
    return StorageBreakdown(
        codes_bits=nnz * m.weight_bits,
        rel_index_bits=nnz * m.index_bits,
        fillers_bits=fillers * (m.weight_bits + m.index_bits),
        pointers_bits=num_pointers * pbits,
        codebook_bits=int(m.codebook.size) * CODEBOOK_VALUE_BITS,
        dense_fp32_bits=m.rows * m.cols * 32,
        nnz=nnz,
        num_fillers=fillers,
        num_pointers=num_pointers,
    )
