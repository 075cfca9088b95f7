"""One quantized Linear weight: codes plus per-group tables, and its exact storage in bits.

Every scheme is held the same way, so a layer can move onto ``EIEMatrix`` (per-row codebooks)
unchanged: ``codes`` (rows, cols) index a table of ``2**bits`` values of their group. What is
*stored* differs by scheme and is what the bit count charges:

- ``codebook``: the table itself, ``2**bits`` fp16 values per group (a learned codebook);
- ``int``: asymmetric linear, ``table[q] = zero + scale * q``: fp16 ``scale`` and ``zero``;
- ``nf4`` / ``iq4nl``: a fixed non-linear table times an fp16 ``scale`` per group;
- ``fp16`` / ``bf16``: the dense weight in 16 bits (no codes).

Groups tile the (rows, cols) matrix in blocks of ``group_rows`` output rows by ``group_cols``
input columns (the last block of a row or column may be shorter); group ``g`` of entry (i, j) is
``(i // group_rows) * ceil(cols / group_cols) + j // group_cols``.

Pruning keeps ``mask`` (True = kept); a pruned entry is exactly zero and has no code. The mask
costs one bit per weight (a bitmap) for unstructured pruning and ``ceil(log2(C(M, N)))`` bits per
M consecutive input weights for N:M.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from eie.errors import FormatError

SCHEMES = ("codebook", "int", "nf4", "iq4nl", "fp16", "bf16")
# Fixed tables, ascending. NF4: the normal-float 4-bit levels (QLoRA), scaled by each group's
# absolute maximum. IQ4_NL: llama.cpp's non-linear 4-bit levels, scaled by a fitted fp16 scale.
NF4_TABLE = np.array([
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
    -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
    0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
    0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0], dtype=np.float32)
IQ4NL_TABLE = np.array([-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113],
                       dtype=np.float32)


def num_groups(shape: tuple[int, int], group_rows: int, group_cols: int) -> int:
    rows, cols = shape
    return -(-rows // group_rows) * -(-cols // group_cols)


def group_index(shape: tuple[int, int], group_rows: int, group_cols: int
                ) -> npt.NDArray[np.int64]:
    """``(rows, cols)`` group number of every entry."""
    rows, cols = shape
    ncg = -(-cols // group_cols)
    return ((np.arange(rows, dtype=np.int64) // group_rows)[:, None] * ncg
            + (np.arange(cols, dtype=np.int64) // group_cols)[None, :])


def nm_mask_bits(rows: int, cols: int, n: int, m: int) -> int:
    """Bits of an N:M mask: which N of every M consecutive input weights are kept."""
    return rows * -(-cols // m) * max(1, math.ceil(math.log2(math.comb(m, n))))


@dataclass(frozen=True, eq=False)
class QuantizedWeight:
    """A quantized ``(rows, cols)`` Linear weight (``y = x @ W.T``). See the module docstring."""

    scheme: str
    shape: tuple[int, int]
    bits: int
    """Code width; ``2**bits`` table entries per group (16 for fp16/bf16, which have no codes)."""
    group_rows: int
    group_cols: int
    codes: npt.NDArray[np.uint8] | None
    """``(rows, cols)`` codes, or None for fp16/bf16."""
    tables: npt.NDArray[np.float32] | None
    """``(num_groups, 2**bits)`` values the codes index, derived from ``params``."""
    params: dict[str, np.ndarray] = field(default_factory=dict)
    """What is stored: ``codebook`` (G, 2**bits) fp16; ``scale`` / ``zero`` (G,) fp16; ``weight``
    (rows, cols) fp16 or bf16 bits (uint16) for fp16/bf16."""
    mask: npt.NDArray[np.bool_] | None = None
    prune: str | None = None
    """``None``, ``"unstructured"`` or ``"N:M"``."""

    def __post_init__(self) -> None:
        rows, cols = self.shape
        if self.scheme not in SCHEMES:
            raise FormatError(f"scheme should be one of {SCHEMES}, found {self.scheme!r}")
        if rows < 1 or cols < 1 or self.group_rows < 1 or self.group_cols < 1:
            raise FormatError(f"bad shape {self.shape} or group {self.group_rows}x"
                              f"{self.group_cols}")
        if self.codes is not None:
            if self.codes.shape != (rows, cols) or self.codes.dtype != np.uint8:
                raise FormatError(f"codes should be ({rows}, {cols}) uint8, found "
                                  f"{self.codes.shape} {self.codes.dtype}")
            if self.tables is None or self.tables.shape != (self.num_groups, 1 << self.bits):
                raise FormatError(f"tables should be ({self.num_groups}, {1 << self.bits})")
            if self.codes.size and int(self.codes.max()) >= 1 << self.bits:
                raise FormatError(f"codes should be < {1 << self.bits}")
            if not np.all(np.isfinite(self.tables)):
                raise FormatError("quantization tables contain NaN or infinity")
        elif self.scheme not in ("fp16", "bf16"):
            raise FormatError(f"scheme {self.scheme!r} needs codes")
        if self.mask is not None and self.mask.shape != (rows, cols):
            raise FormatError(f"mask should be ({rows}, {cols}), found {self.mask.shape}")

    @property
    def num_groups(self) -> int:
        return num_groups(self.shape, self.group_rows, self.group_cols)

    def dequantize(self) -> npt.NDArray[np.float32]:
        """The ``(rows, cols)`` float32 weight this stands for."""
        if self.scheme == "fp16":
            return self.params["weight"].astype(np.float32)
        if self.scheme == "bf16":
            return (self.params["weight"].astype(np.uint32) << 16).view(np.float32)
        assert self.codes is not None and self.tables is not None
        cols = self.shape[1]
        if self.group_rows == 1 and self.group_cols >= cols:
            w = np.take_along_axis(self.tables, self.codes.astype(np.intp), axis=1)
        else:
            w = self.tables[group_index(self.shape, self.group_rows, self.group_cols),
                            self.codes]
        w = np.ascontiguousarray(w, dtype=np.float32)
        if self.mask is not None:
            w[~self.mask] = 0.0
        return w

    def storage_bits(self) -> dict[str, int]:
        """Exact bits by category: ``codes``, ``tables`` (codebooks / scales / zeros), ``mask``."""
        rows, cols = self.shape
        n = rows * cols
        if self.scheme in ("fp16", "bf16"):
            return {"codes": 16 * n, "tables": 0, "mask": 0}
        kept = n if self.mask is None else int(self.mask.sum())
        g = self.num_groups
        per_group = {"codebook": 16 << self.bits, "int": 32, "nf4": 16, "iq4nl": 16}[self.scheme]
        mask_bits = 0
        if self.prune == "unstructured":
            mask_bits = n
        elif self.prune is not None:
            nn, mm = (int(v) for v in self.prune.split(":"))
            mask_bits = nm_mask_bits(rows, cols, nn, mm)
        return {"codes": self.bits * kept, "tables": per_group * g, "mask": mask_bits}

    @property
    def bits_per_weight(self) -> float:
        return sum(self.storage_bits().values()) / (self.shape[0] * self.shape[1])

    def describe(self) -> dict[str, Any]:
        return {"scheme": self.scheme, "bits": self.bits, "shape": list(self.shape),
                "group_rows": self.group_rows, "group_cols": self.group_cols,
                "prune": self.prune, "bits_per_weight": self.bits_per_weight}
