"""The reference engine: the executable spec of an EIE layer, in plain numpy.

Every later engine (C++ kernels, simulator) is tested against these functions. They read the
EIE arrays directly, PE by PE and column by column, and visit only the columns whose input
activation is nonzero, as EIE's broadcast does.

- ``spmv``: float path, ``y = act(W @ x + b)`` in float64 accumulation, returned as float32.
- ``spmv_fixed``: EIE's 16-bit fixed-point arithmetic (see ``eie.engine.fixed_point``), int16 in,
  int16 out, bit-exact with the simulator.
- ``spmv_int8``: what the kernels' opt-in ``precision="int8"`` computes (int8 inputs per
  128-column chunk, int8 codebooks), with exact integer sums.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from eie.engine.fixed_point import FixedPointFormat, sqnr_db
from eie.errors import EngineError

if TYPE_CHECKING:
    from eie.formats.eie_matrix import EIEMatrix
    from eie.formats.model import Model

ACTIVATIONS = (None, "relu")

__all__ = ["ACTIVATIONS", "FixedPointFormat", "forward", "layer_outputs", "spmv", "spmv_fixed",
           "spmv_int8", "spmv_quantized", "sqnr_db"]


_NOT_REAL = "USOcMm"  # strings, objects, complex, dates: no float64 value to compute with


def _check_inputs(m: EIEMatrix, x: npt.ArrayLike, bias: npt.ArrayLike | None,
                  activation: str | None) -> tuple[np.ndarray, np.ndarray | None]:
    xa = np.asarray(x)
    if xa.shape != (m.cols,):
        raise EngineError(f"x should have shape ({m.cols},) for a {m.rows}x{m.cols} layer, "
                          f"found {xa.shape}")
    if xa.dtype.kind in _NOT_REAL:
        raise EngineError(f"x should hold real numbers, found dtype {xa.dtype}")
    ba = None
    if bias is not None:
        ba = np.asarray(bias)
        if ba.shape != (m.rows,):
            raise EngineError(f"bias should have shape ({m.rows},), found {ba.shape}")
        if ba.dtype.kind in _NOT_REAL:
            raise EngineError(f"bias should hold real numbers, found dtype {ba.dtype}")
    if activation not in ACTIVATIONS:
        raise EngineError(f"activation should be one of {ACTIVATIONS}, found {activation!r}")
    return xa, ba


def _pe_entries(m: EIEMatrix, k: int, x_nonzero: npt.NDArray[np.bool_]
                ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.uint8]]:
    """PE k's real entries in columns with a nonzero activation: (col, local_row, code).

    Decoding follows the format's rule, ``local_row = cumsum(rel_index + 1) - 1`` per column;
    fillers advance the row but do no work, and columns whose activation is zero are skipped.
    """
    sl = m.pe(k)
    seg_len = np.diff(sl.col_ptr)
    col = np.repeat(np.arange(m.cols, dtype=np.int64), seg_len)
    csum = np.cumsum(sl.rel_index.astype(np.int64) + 1)
    start = np.concatenate(([0], csum))[sl.col_ptr[:-1]]  # row counter at each column start
    local_row = csum - np.repeat(start, seg_len) - 1
    keep = ((sl.codes != 0) | (not m.zero_code)) & x_nonzero[col]
    return col[keep], local_row[keep], sl.codes[keep]


def spmv(m: EIEMatrix, x: npt.ArrayLike, bias: npt.ArrayLike | None = None,
         activation: str | None = None) -> npt.NDArray[np.float32]:
    """``act(W @ x + bias)`` from the EIE arrays (float64 accumulation, float32 result).

    >>> import numpy as np
    >>> from eie.formats import EIEMatrix
    >>> m = EIEMatrix.from_codes([[1, 0], [0, 2]], np.array([0, 0.5, -1], np.float32), num_pes=2)
    >>> spmv(m, [2.0, 1.0], bias=[0.0, 0.5], activation="relu").tolist()
    [1.0, 0.0]
    """
    xa, ba = _check_inputs(m, x, bias, activation)
    xv = xa.astype(np.float64)
    y = np.zeros(m.rows, np.float64)
    active = xv != 0  # EIE broadcasts only nonzero activations
    codebook = m.codebook.astype(np.float64)
    for k in range(m.num_pes):
        col, rows, codes = _pe_entries(m, k, active)
        if m.group_rows:  # the codebook of each entry's global row's group
            w = codebook[(rows * m.num_pes + k) // m.group_rows, codes]
        else:
            w = codebook[codes]
        y[k::m.num_pes] = np.bincount(rows, weights=w * xv[col], minlength=m.local_rows(k))
    if ba is not None:
        y += ba.astype(np.float64)
    if activation == "relu":
        y = np.maximum(y, 0.0)
    return y.astype(np.float32)


INT8_CHUNK = 128
"""Columns per input scale under ``precision="int8"``."""


def int8_scale(amax: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """The int8 scale of values whose largest magnitude is ``amax`` (float32): ``amax / 127``,
    0 for 0, the smallest subnormal where that division underflows (as the kernels)."""
    a = np.asarray(amax, np.float32)
    s = (a / np.float32(127)).astype(np.float32)
    return np.where((s == 0) & (a > 0), np.float32(np.finfo(np.float32).smallest_subnormal),
                    s).astype(np.float32)


def int8_round(v: npt.ArrayLike, scale: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """``round(v / scale)`` (float32 division, ties to even) clamped to -127..127; 0 where the
    scale is 0."""
    va, sa = np.asarray(v, np.float32), np.asarray(scale, np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.rint((va / np.where(sa > 0, sa, np.float32(1))).astype(np.float32))
    return np.where(sa > 0, np.clip(q, -127, 127), 0).astype(np.int64)


def spmv_int8(m: EIEMatrix, x: npt.ArrayLike, bias: npt.ArrayLike | None = None,
              activation: str | None = None) -> npt.NDArray[np.float32]:
    """``act(W @ x + bias)`` as ``precision="int8"`` defines it (``eie.engine.kernels``):
    each codebook ``c`` becomes ``round(c / s_w)``, ``s_w = int8_scale(max |c|)`` (an all-zero
    codebook: 0, scale 1), each ``INT8_CHUNK``-column chunk ``t`` of ``x`` becomes
    ``round(x / s_t)``, ``s_t = int8_scale(max |x_t|)``; then
    ``y_r = s_w(r) * sum_t s_t * sum_{c in t} w8_rc q_c`` with exact integer inner sums (float64
    outer sum here). ``x`` must be finite (the kernels run fp32 otherwise).

    >>> import numpy as np
    >>> from eie.formats import EIEMatrix
    >>> m = EIEMatrix.from_codes([[1, 0], [0, 2]], np.array([0, 0.5, -1], np.float32), num_pes=2)
    >>> [round(float(v), 4) for v in spmv_int8(m, [2.0, 1.0])]  # 0.5 -> 64 / 127: 1.0079
    [1.0079, -1.0079]
    """
    xa, ba = _check_inputs(m, x, bias, activation)
    xf = xa.astype(np.float32)
    if not np.isfinite(xf).all():
        raise EngineError("spmv_int8 takes finite inputs (the kernels run fp32 otherwise)")
    cb = np.asarray(m.codebook, np.float32)
    cbs = cb if m.group_rows else cb[None, :]
    sw = int8_scale(np.abs(cbs).max(axis=1))
    sw = np.where(sw > 0, sw, np.float32(1))
    w8 = int8_round(cbs, sw[:, None])
    codes = m.to_codes().astype(np.intp)
    if m.group_rows:
        g = np.arange(m.rows) // m.group_rows
        w = np.take_along_axis(w8[g], codes, axis=1)
        srow = sw[g].astype(np.float64)
    else:
        w = w8[0][codes]
        srow = np.full(m.rows, float(sw[0]))
    pc = -(-m.cols // INT8_CHUNK) * INT8_CHUNK
    xp = np.zeros(pc, np.float32)
    xp[:m.cols] = xf
    chunks = xp.reshape(-1, INT8_CHUNK)
    st = int8_scale(np.abs(chunks).max(axis=1))
    q = int8_round(chunks, st[:, None])
    wp = np.zeros((m.rows, pc), np.int64)
    wp[:, :m.cols] = w
    sums = np.einsum("rtc,tc->rt", wp.reshape(m.rows, -1, INT8_CHUNK), q)  # exact int64
    y = srow * (sums.astype(np.float64) @ st.astype(np.float64))
    if ba is not None:
        y += ba.astype(np.float64)
    if activation == "relu":
        y = np.maximum(y, 0.0)
    return y.astype(np.float32)


def spmv_fixed(m: EIEMatrix, x_q: npt.ArrayLike, bias: npt.ArrayLike | None = None,
               activation: str | None = None, fmt: FixedPointFormat | None = None
               ) -> npt.NDArray[np.int16]:
    """EIE's fixed-point layer: int16 activations (``fmt.act_frac_bits``) in and out.

    ``bias`` is float and is quantized at the accumulator's scale (see fixed_point).
    """
    fmt = fmt or FixedPointFormat()
    xa, ba = _check_inputs(m, x_q, bias, activation)
    if xa.dtype != np.int16:
        raise EngineError(f"x_q should be int16 fixed-point activations, found {xa.dtype}; "
                          "use FixedPointFormat.quantize_act or spmv_quantized")
    xq = xa.astype(np.int64)
    if m.group_rows or not m.zero_code:
        raise EngineError("the fixed-point reference takes layers with one shared codebook "
                          "(code 0 = zero), found group codebooks or zero_code=False")
    wq = fmt.quantize_weights(m.codebook).astype(np.int64)
    acc_all = np.zeros(m.rows, np.int64)
    active = xq != 0
    for k in range(m.num_pes):
        col, rows, codes = _pe_entries(m, k, active)
        acc = np.zeros(m.local_rows(k), np.int64)
        np.add.at(acc, rows, wq[codes] * xq[col])  # exact int64 sums
        acc_all[k::m.num_pes] = acc
    if ba is not None:
        acc_all += fmt.quantize_bias(ba)
    return fmt.narrow(acc_all, relu=activation == "relu")


def spmv_quantized(m: EIEMatrix, x: npt.ArrayLike, bias: npt.ArrayLike | None = None,
                   activation: str | None = None, fmt: FixedPointFormat | None = None
                   ) -> npt.NDArray[np.float32]:
    """Float in, float out, through EIE's fixed-point path (quantize, ``spmv_fixed``, dequantize).

    Compare with ``spmv`` using ``sqnr_db`` to see what 16-bit fixed point costs.
    """
    fmt = fmt or FixedPointFormat()
    return fmt.dequantize_act(spmv_fixed(m, fmt.quantize_act(x), bias, activation, fmt))


def layer_outputs(model: Model, x: npt.ArrayLike) -> list[npt.NDArray[np.float32]]:
    """Every layer's output (``spmv`` chained over ``model.layers``, bias and activation of each)
    for one input ``(cols,)`` or a batch ``(n, cols)`` (already flat); a chain of linear layers
    only."""
    xa = np.asarray(x, dtype=np.float32)
    bad = [ly.name for ly in model.layers if ly.attrs.get("kind", "linear") != "linear"
           or ly.attrs.get("then")
           or any(step.get("op") != "flatten" for step in ly.attrs.get("before", []))]
    if bad:
        raise EngineError(f"the reference chain runs linear layers one after the other; layer "
                          f"{bad[0]!r} is not one (use eie.engine.Engine)")
    rows = xa.reshape(-1, xa.shape[-1]) if xa.ndim else xa.reshape(1, 1)
    outs: list[list[npt.NDArray[np.float32]]] = [[] for _ in model.layers]
    for v in rows:
        h = v
        for i, ly in enumerate(model.layers):
            h = spmv(ly.matrix, h, ly.bias, ly.activation)
            outs[i].append(h)
    return [np.stack(o) if xa.ndim > 1 else o[0] for o in outs]


def forward(model: Model, x: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """The model's output for ``x`` (``(cols,)`` or ``(n, cols)``) on the reference engine.

    >>> import numpy as np
    >>> from eie.formats import EIEMatrix, Layer, Model
    >>> m = EIEMatrix.from_codes([[1, 0], [0, 2]], np.array([0, .5, -1], np.float32), 2)
    >>> forward(Model((Layer("a", m, activation="relu"), Layer("b", m))), [2.0, -1.0]).tolist()
    [0.5, -1.0]
    """
    return layer_outputs(model, x)[-1]
