"""Quantizers: a float32 ``(rows, cols)`` weight (plus per-entry importance) -> QuantizedWeight.

- ``quantize_codebook``: learned codebooks, exact weighted 1-D k-means per group (the default);
- ``quantize_int``: asymmetric linear round-to-nearest, ``zero + scale * q`` per group of input
  columns (llama.cpp's Q4_1 is this with 32 columns);
- ``quantize_nf4``: NF4 levels times each group's absolute maximum;
- ``quantize_iq4nl``: IQ4_NL levels times a per-group scale fitted by weighted least squares over
  a few candidate starts (as llama.cpp does);
- ``quantize_float``: fp16 / bf16 rounding.

Importance ``weight`` (same shape, >= 0) is what the squared error is weighted by: E[x^2] of each
input channel broadcast over rows, a diagonal Fisher, or ones.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from eie.errors import ConfigError
from eie.llm.kmeans import kmeans1d
from eie.llm.qweight import (
    IQ4NL_TABLE,
    NF4_TABLE,
    QuantizedWeight,
    group_index,
    num_groups,
)

F32 = npt.NDArray[np.float32]


def _check_weight(w: np.ndarray) -> F32:
    a = np.ascontiguousarray(w, dtype=np.float32)
    if a.ndim != 2 or a.size == 0:
        raise ConfigError(f"a Linear weight should be a non-empty 2-D matrix, found {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ConfigError("the weight contains NaN or infinity")
    return a


def _segments(shape: tuple[int, int], group_rows: int, group_cols: int,
              mask: np.ndarray | None) -> tuple[np.ndarray | None, np.ndarray]:
    """Flat indices of the kept entries ordered by group (None = row-major order already is),
    and the group offsets into that order."""
    rows, cols = shape
    g = num_groups(shape, group_rows, group_cols)
    if mask is None and group_cols >= cols:
        sizes = np.full(g, group_rows * cols, np.int64)
        sizes[-1] = (rows - (g - 1) * group_rows) * cols
        return None, np.concatenate([[0], np.cumsum(sizes)])
    gid = group_index(shape, group_rows, group_cols).ravel()
    keep = np.arange(gid.size) if mask is None else np.flatnonzero(mask.ravel())
    order = keep[np.argsort(gid[keep], kind="stable")]
    counts = np.bincount(gid[keep], minlength=g)
    return order, np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)


def quantize_codebook(w: np.ndarray, bits: int, group_rows: int = 1, group_cols: int = 0,
                      importance: np.ndarray | None = None, mask: np.ndarray | None = None,
                      prune: str | None = None, threads: int = 0) -> QuantizedWeight:
    """Learned codebook of ``2**bits`` fp16 values per group; ``group_cols=0`` means whole rows.

    The centroids are the exact weighted k-means optimum of the kept entries, then rounded to
    fp16 (the stored form); codes are re-assigned to the nearest rounded centroid.
    """
    a = _check_weight(w)
    rows, cols = a.shape
    if not 1 <= bits <= 8:
        raise ConfigError(f"codebook bits should be in 1..8, found {bits}")
    group_cols = cols if group_cols <= 0 else group_cols
    imp = np.ones_like(a) if importance is None else np.broadcast_to(
        np.asarray(importance, np.float32), a.shape)
    order, offsets = _segments(a.shape, group_rows, group_cols, mask)
    xf, wf = a.ravel(), np.ascontiguousarray(imp).ravel()
    if order is not None:
        xf, wf = xf[order], wf[order]
    k = 1 << bits
    centroids, codes_sorted, _ = kmeans1d(xf, wf, offsets, k, threads)
    codebook = centroids.astype(np.float16)
    tables = codebook.astype(np.float32)
    flat = np.zeros(a.size, np.uint8)
    if order is None:
        flat[:] = codes_sorted
    else:
        flat[order] = codes_sorted
    codes = flat.reshape(a.shape)
    # fp16 rounding keeps the centroids sorted, so each code's nearest rounded centroid is itself
    # or a neighbour: re-assign against the stored values.
    codes = _nearest_in_table(a, tables, group_index(a.shape, group_rows, group_cols)
                              if (group_rows > 1 or group_cols < cols) else None, codes)
    if mask is not None:
        codes[~mask] = 0
    return QuantizedWeight("codebook", (rows, cols), bits, group_rows, group_cols, codes, tables,
                           {"codebook": codebook}, None if mask is None else mask.copy(), prune)


def _nearest_in_table(a: F32, tables: F32, gid: np.ndarray | None, codes: np.ndarray
                      ) -> npt.NDArray[np.uint8]:
    k = tables.shape[1]
    best = codes.astype(np.int64)
    rowtab = tables if gid is None else None

    def value(c: np.ndarray) -> np.ndarray:
        if rowtab is not None:
            return np.take_along_axis(rowtab, c, axis=1)
        return tables[gid, c]

    err = np.abs(a - value(best))
    for step in (-1, 1):
        cand = np.clip(best + step, 0, k - 1)
        e = np.abs(a - value(cand))
        better = e < err
        best = np.where(better, cand, best)
        err = np.where(better, e, err)
    return best.astype(np.uint8)


def _col_groups(a: F32, group: int) -> tuple[F32, int]:
    """Pad columns to a multiple of ``group`` with NaN and view as (rows * ngroups, group)."""
    rows, cols = a.shape
    ng = -(-cols // group)
    padded = np.full((rows, ng * group), np.nan, np.float32)
    padded[:, :cols] = a
    return padded.reshape(rows * ng, group), ng


def _assign_fixed(vals: F32, scale: F32, table: F32) -> npt.NDArray[np.uint8]:
    """Nearest entry of ``scale * table`` (one fixed ascending table, a scale per group) for
    vals (G, g): the nearest table entry to ``vals / scale`` (a negative scale flips the order,
    which dividing by it undoes; a zero scale gives code of the entry nearest 0)."""
    mids = (table[1:] + table[:-1]) / 2
    safe = np.where(scale != 0, scale, 1.0).astype(np.float32)
    t = np.nan_to_num(vals) / safe[:, None]
    t[scale == 0] = 0.0
    codes = np.searchsorted(mids, t, side="left")
    # Exactly on a midpoint, searchsorted picks the lower entry; the distance is equal anyway.
    return codes.astype(np.uint8)


def _unpad(codes: np.ndarray, rows: int, cols: int) -> npt.NDArray[np.uint8]:
    return np.ascontiguousarray(codes.reshape(rows, -1)[:, :cols])


def quantize_int(w: np.ndarray, bits: int, group: int) -> QuantizedWeight:
    """Asymmetric round-to-nearest: per group of ``group`` input columns, fp16 ``scale`` and
    ``zero`` (the minimum), ``w ~ zero + scale * q`` with ``q`` in 0..2**bits-1."""
    a = _check_weight(w)
    rows, cols = a.shape
    if not 2 <= bits <= 8 or group < 1:
        raise ConfigError(f"int quantization needs 2..8 bits and group >= 1, found {bits}, {group}")
    g, _ = _col_groups(a, group)
    lo, hi = np.nanmin(g, axis=1), np.nanmax(g, axis=1)
    qmax = (1 << bits) - 1
    scale = ((hi - lo) / qmax).astype(np.float16)
    zero = lo.astype(np.float16)
    s32, z32 = scale.astype(np.float32), zero.astype(np.float32)
    tables = z32[:, None] + s32[:, None] * np.arange(qmax + 1, dtype=np.float32)[None, :]
    safe = np.where(s32 > 0, s32, 1.0)
    q = np.clip(np.rint((np.nan_to_num(g) - z32[:, None]) / safe[:, None]), 0, qmax)
    codes = _unpad(q.astype(np.uint8), rows, cols)
    return QuantizedWeight("int", (rows, cols), bits, 1, group, codes, tables.astype(np.float32),
                           {"scale": scale, "zero": zero})


def int_tables(scale: np.ndarray, zero: np.ndarray, bits: int) -> F32:
    s32, z32 = scale.astype(np.float32), zero.astype(np.float32)
    return (z32[:, None] + s32[:, None] * np.arange(1 << bits, dtype=np.float32)[None, :]
            ).astype(np.float32)


def quantize_nf4(w: np.ndarray, group: int = 64) -> QuantizedWeight:
    """NF4: ``w ~ absmax * NF4_TABLE[q]`` per group of ``group`` input columns (fp16 absmax)."""
    a = _check_weight(w)
    rows, cols = a.shape
    g, _ = _col_groups(a, group)
    scale = np.nanmax(np.abs(g), axis=1).astype(np.float16)
    tables = scale.astype(np.float32)[:, None] * NF4_TABLE[None, :]
    codes = _unpad(_assign_fixed(g, scale.astype(np.float32), NF4_TABLE), rows, cols)
    return QuantizedWeight("nf4", (rows, cols), 4, 1, group, codes, tables, {"scale": scale})


def quantize_iq4nl(w: np.ndarray, group: int = 32, importance: np.ndarray | None = None,
                   tries: int = 7) -> QuantizedWeight:
    """IQ4_NL-style: ``w ~ scale * IQ4NL_TABLE[q]`` per group; the scale is the best of
    ``2 * tries + 1`` candidates, each refined by weighted least squares for its assignment."""
    a = _check_weight(w)
    rows, cols = a.shape
    g, _ = _col_groups(a, group)
    imp = np.ones_like(a) if importance is None else np.broadcast_to(
        np.asarray(importance, np.float32), a.shape)
    wg, _ = _col_groups(np.ascontiguousarray(imp, dtype=np.float32), group)
    wg = np.nan_to_num(wg)  # padding weighs nothing
    x = np.nan_to_num(g)
    # The entry of largest magnitude, signed: it maps onto the table's far end (-127).
    idx = np.argmax(np.abs(x), axis=1)
    amax = x[np.arange(len(x)), idx]
    best_scale = np.zeros(len(x), np.float32)
    best_err = np.full(len(x), np.inf, np.float32)
    t = IQ4NL_TABLE
    mids = (t[1:] + t[:-1]) / 2
    for step in range(-tries, tries + 1):
        inv = np.where(amax != 0, (t[0] + step) / np.where(amax != 0, amax, 1), 0.0)
        scaled = x * inv[:, None]
        q = t[np.searchsorted(mids, scaled, side="left")]
        num, den = (wg * q * x).sum(axis=1), (wg * q * q).sum(axis=1)
        d = np.where(den > 0, num / np.where(den > 0, den, 1), 0.0).astype(np.float32)
        d16 = d.astype(np.float16).astype(np.float32)
        # The error of the stored form (fp16 scale); the final codes are re-assigned below.
        err = (wg * (x - d16[:, None] * q) ** 2).sum(axis=1)
        better = err < best_err
        best_err = np.where(better, err, best_err)
        best_scale = np.where(better, d16, best_scale)
    scale = best_scale.astype(np.float16)
    tables = scale.astype(np.float32)[:, None] * t[None, :]
    codes = _assign_fixed(g, scale.astype(np.float32), t)
    return QuantizedWeight("iq4nl", (rows, cols), 4, 1, group, _unpad(codes, rows, cols),
                           tables.astype(np.float32), {"scale": scale})


def fixed_tables(scheme: str, scale: np.ndarray) -> F32:
    table = NF4_TABLE if scheme == "nf4" else IQ4NL_TABLE
    return (scale.astype(np.float32)[:, None] * table[None, :]).astype(np.float32)


def quantize_float(w: np.ndarray, scheme: str) -> QuantizedWeight:
    a = _check_weight(w)
    if scheme == "fp16":
        stored = a.astype(np.float16)
    elif scheme == "bf16":
        u = a.view(np.uint32).astype(np.uint64)
        # Round to nearest even on the dropped 16 bits.
        stored = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    else:
        raise ConfigError(f"float scheme should be fp16 or bf16, found {scheme!r}")
    return QuantizedWeight(scheme, a.shape, 16, 1, a.shape[1], None, None, {"weight": stored})
