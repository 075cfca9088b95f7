"""Validation shared by EIEMatrix construction and file loading. Raises FormatError only, except
``check_activations`` (the engine's bound on what one call allocates: EngineError)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from eie.errors import FormatError

if TYPE_CHECKING:
    from eie.formats.eie_matrix import EIEMatrix

MAX_PES = 4096
MAX_BITS = 8
MAX_DIM = 1 << 24
"""Largest ``rows`` or ``cols`` of a layer (16,777,216). ``rows`` is the one size no array of the
format describes (trailing zero rows store nothing), so it is bounded by this limit."""
MAX_WEIGHTS = 1 << 30
"""Largest ``rows * cols`` of a layer (1,073,741,824 weights, 4 GiB as dense fp32): bounds what
decoding, the CPU engine and the simulator may allocate for one layer."""


MAX_ACTIVATIONS = 1 << 30
"""Largest number of values of one array an engine call derives from its inputs (a batch's
outputs, a convolution's padded input or patch matrix, a pooling's padded input and its window
work): 4 GiB as float32, the bound ``MAX_WEIGHTS`` sets for a layer."""
MAX_POOL_WINDOW = 1 << 16
"""Largest pooling window (kh * kw, e.g. 256 x 256): the window is walked one offset at a
time."""


def check_activations(shape: tuple[int, ...], what: str) -> None:
    """Refuses, before allocating, an array of more than ``MAX_ACTIVATIONS`` values."""
    from eie.errors import EngineError

    n = 1
    for v in shape:
        n *= int(v)
    if n > MAX_ACTIVATIONS:
        raise EngineError(f"{what} would hold {' x '.join(str(int(v)) for v in shape)} = {n} "
                          f"values, more than the {MAX_ACTIVATIONS} one call may allocate; "
                          "split the batch")


def check_shape(shape: object) -> tuple[int, int]:
    """A ``(rows, cols)`` pair of plain non-negative ints within ``MAX_DIM`` and ``MAX_WEIGHTS``."""
    if (not isinstance(shape, tuple | list) or len(shape) != 2
            or not all(isinstance(s, int | np.integer) and not isinstance(s, bool | np.bool_)
                       for s in shape)):
        raise FormatError(f"shape should be a pair of non-negative ints, found {shape!r}")
    rows, cols = int(shape[0]), int(shape[1])
    if not (0 <= rows <= MAX_DIM and 0 <= cols <= MAX_DIM):
        raise FormatError(f"shape should be within 0..{MAX_DIM} per dimension, found "
                          f"({rows}, {cols})")
    if rows * cols > MAX_WEIGHTS:
        raise FormatError(f"a layer should hold at most {MAX_WEIGHTS} weights, found "
                          f"{rows} x {cols} = {rows * cols}")
    return rows, cols


def as_codebook(codebook: npt.ArrayLike) -> npt.NDArray[np.float32]:
    cb = np.ascontiguousarray(codebook, dtype=np.float32)
    if cb.ndim != 1 or len(cb) < 1:
        raise FormatError(f"codebook should be a non-empty 1-D array, found shape {cb.shape}")
    if len(cb) > 1 << MAX_BITS:
        raise FormatError(f"codebook should have at most {1 << MAX_BITS} entries, found {len(cb)}")
    if cb[0] != 0.0:
        raise FormatError(f"codebook[0] should be 0.0 (code 0 means zero), found {cb[0]!r}")
    if not np.all(np.isfinite(cb)):
        raise FormatError("codebook contains NaN or infinity")
    return cb


def as_group_codebooks(codebooks: npt.ArrayLike, zero_code: bool) -> npt.NDArray[np.float32]:
    """A ``(groups, K)`` float32 array of finite codebooks (entry 0 = 0.0 when zero_code)."""
    cb = np.ascontiguousarray(codebooks, dtype=np.float32)
    if cb.ndim != 2 or cb.shape[1] < 1:
        raise FormatError(f"group codebooks should be a (groups, K) array with K >= 1, found "
                          f"shape {cb.shape}")
    if cb.shape[1] > 1 << MAX_BITS:
        raise FormatError(f"codebooks should have at most {1 << MAX_BITS} entries, found "
                          f"{cb.shape[1]}")
    if not np.all(np.isfinite(cb)):
        bad = int(np.argwhere(~np.isfinite(cb))[0][0])
        raise FormatError(f"codebook of group {bad} contains NaN or infinity")
    if zero_code and cb.size and np.any(cb[:, 0] != 0.0):
        bad = int(np.flatnonzero(cb[:, 0] != 0.0)[0])
        raise FormatError(f"codebook of group {bad}: entry 0 should be 0.0 with zero_code=True "
                          f"(code 0 means zero), found {cb[bad, 0]!r}")
    return cb


def check_groups(m: EIEMatrix) -> None:
    """Codebook shape against group_rows, and the dense entry structure of zero_code=False."""
    g = m.group_rows
    if isinstance(g, bool) or not isinstance(g, int) or g < 0:
        raise FormatError(f"group_rows should be a non-negative int, found {g!r}")
    if not isinstance(m.zero_code, bool):
        raise FormatError(f"zero_code should be a bool, found {m.zero_code!r}")
    if g == 0:
        if m.codebook.ndim != 1:
            raise FormatError(f"a shared codebook (group_rows=0) should be 1-D, found shape "
                              f"{m.codebook.shape}")
        if m.zero_code:
            as_codebook(m.codebook)
        else:
            as_group_codebooks(m.codebook[None, :], False)
        return
    if m.rows == 0:
        raise FormatError("group codebooks need a layer with at least one row")
    groups = -(-m.rows // g)
    if m.codebook.ndim != 2 or m.codebook.shape[0] != groups:
        raise FormatError(f"group_rows={g} over {m.rows} rows needs a ({groups}, K) codebook, "
                          f"found shape {m.codebook.shape}")
    as_group_codebooks(m.codebook, m.zero_code)


def default_weight_bits(codebook_len: int, weight_bits: int | None) -> int:
    need = max(1, (codebook_len - 1).bit_length())
    if weight_bits is None:
        return max(4, need)
    if not 1 <= weight_bits <= MAX_BITS:
        raise FormatError(f"weight_bits should be in 1..{MAX_BITS}, found {weight_bits}")
    if need > weight_bits:
        raise FormatError(f"a codebook of {codebook_len} entries needs {need} weight bits, "
                          f"but weight_bits={weight_bits}")
    return weight_bits


def as_code_matrix(codes: npt.ArrayLike, codebook_len: int) -> npt.NDArray[np.uint8]:
    arr = np.asarray(codes)
    if arr.ndim != 2:
        raise FormatError(f"codes should be a 2-D (rows, cols) array, found shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise FormatError(f"codes should be integers, found dtype {arr.dtype}")
    if arr.size:
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi >= codebook_len:
            raise FormatError(f"codes should be in [0, {codebook_len}) for a codebook of "
                              f"{codebook_len} entries, found values in [{lo}, {hi}]")
    return np.ascontiguousarray(arr, dtype=np.uint8)


def check_layout_params(num_pes: object, index_bits: object, weight_bits: object) -> None:
    if not isinstance(num_pes, int | np.integer) or not 1 <= int(num_pes) <= MAX_PES:
        raise FormatError(f"num_pes should be an integer in 1..{MAX_PES}, found {num_pes!r}")
    if not isinstance(index_bits, int | np.integer) or not 1 <= int(index_bits) <= MAX_BITS:
        raise FormatError(f"index_bits should be an integer in 1..{MAX_BITS}, found {index_bits!r}")
    if not isinstance(weight_bits, int | np.integer) or not 1 <= int(weight_bits) <= MAX_BITS:
        raise FormatError(f"weight_bits should be an integer in 1..{MAX_BITS}, "
                          f"found {weight_bits!r}")


def _check_array(name: str, arr: object, dtype: type, ndim: int) -> None:
    if not isinstance(arr, np.ndarray):
        raise FormatError(f"{name} should be a numpy array, found {type(arr).__name__}")
    if arr.dtype != dtype:
        raise FormatError(f"{name} should have dtype {np.dtype(dtype)}, found {arr.dtype}")
    if arr.ndim != ndim:
        raise FormatError(f"{name} should be {ndim}-D, found shape {arr.shape}")
    if not arr.flags.c_contiguous:
        raise FormatError(f"{name} should be C-contiguous")


def check_matrix(m: EIEMatrix) -> None:
    """Everything the kernels rely on: after this, no index in the arrays can go out of bounds."""
    from eie.formats._fast import max_u8, validate_entries

    check_layout_params(m.num_pes, m.index_bits, m.weight_bits)
    if not isinstance(m.shape, tuple) or not all(type(s) is int for s in m.shape):
        raise FormatError(f"shape should be a tuple of two ints, found {m.shape!r}")
    check_shape(m.shape)
    _check_array("codes", m.codes, np.uint8, 1)
    _check_array("rel_index", m.rel_index, np.uint8, 1)
    _check_array("pe_offset", m.pe_offset, np.int64, 1)
    _check_array("col_ptr", m.col_ptr, np.int64, 2)
    _check_array("codebook", m.codebook, np.float32, 1 if m.group_rows == 0 else 2)
    check_groups(m)
    default_weight_bits(m.codebook.shape[-1], m.weight_bits)
    if len(m.codes) != len(m.rel_index):
        raise FormatError(f"codes and rel_index should have equal lengths, found "
                          f"{len(m.codes)} and {len(m.rel_index)}")
    if len(m.pe_offset) != m.num_pes + 1:
        raise FormatError(f"pe_offset size {len(m.pe_offset)} should be num_pes + 1 = "
                          f"{m.num_pes + 1}")
    if m.col_ptr.shape != (m.num_pes, m.cols + 1):
        raise FormatError(f"col_ptr shape {m.col_ptr.shape} should be (num_pes, cols + 1) = "
                          f"{(m.num_pes, m.cols + 1)}")
    max_code = max_u8(m.codes)
    if max_code >= m.codebook.shape[-1]:
        raise FormatError(f"codes should index the codebook of {m.codebook.shape[-1]} entries, "
                          f"found code {max_code}")
    max_rel = max_u8(m.rel_index)
    if max_rel >= 1 << m.index_bits:
        raise FormatError(f"rel_index should fit in index_bits={m.index_bits} "
                          f"(< {1 << m.index_bits}), found {max_rel}")
    validate_entries(m)
    if not m.zero_code:
        if m.num_entries != m.rows * m.cols or max_u8(m.rel_index) != 0:
            raise FormatError(f"a zero_code=False layer stores every weight with rel_index 0: "
                              f"expected {m.rows * m.cols} entries, found {m.num_entries} "
                              f"(rel_index max {max_u8(m.rel_index)})")
