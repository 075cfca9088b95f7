"""Thin wrappers over the C++ core's format routines; ValueError from C++ becomes FormatError."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

import eie._core as _core
from eie.errors import FormatError

if TYPE_CHECKING:
    from eie.formats.eie_matrix import EIEMatrix


def max_u8(a: npt.NDArray[np.uint8], isa: str = "") -> int:
    """Largest value of a uint8 array (0 when empty), SIMD in the core."""
    return int(_core.max_u8(a, isa))


def validate_entries(m: EIEMatrix) -> None:
    """Every array checked before any walk (sizes, pointers, code and index ranges, rows), in the
    core."""
    try:
        _core.validate_entries(m.codes, m.rel_index, m.pe_offset, m.col_ptr, m.rows, m.cols,
                               m.codebook.shape[-1], m.index_bits)
    except ValueError as e:
        raise FormatError(f"inconsistent EIE arrays: {e}") from None


def decode_to_codes(m: EIEMatrix) -> npt.NDArray[np.uint8]:
    """The (rows, cols) code matrix; the arrays were validated when m was built."""
    out = np.zeros(m.shape, np.uint8)
    try:
        _core.decode_to_codes(m.codes, m.rel_index, m.pe_offset, m.col_ptr, m.rows, m.cols, out,
                              m.codebook.shape[-1], m.index_bits)
    except ValueError as e:
        raise FormatError(f"inconsistent EIE arrays: {e}") from None
    return out


def reencode(m: EIEMatrix, num_pes: int, index_bits: int
             ) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8], npt.NDArray[np.int64],
                        npt.NDArray[np.int64]]:
    """m's weights as EIE arrays over another PE count / index width, computed on the entries."""
    try:
        return _core.reencode(m.codes, m.rel_index, m.pe_offset, m.col_ptr, m.rows, m.cols,
                              num_pes, index_bits)
    except ValueError as e:
        raise FormatError(f"inconsistent EIE arrays: {e}") from None
