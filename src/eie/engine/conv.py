"""Convolutions and the steps between stored layers, on the CPU engine (numpy + the C++ kernels).

A ``conv2d`` layer is stored as its ``(out, C * kh * kw)`` codebook matrix (columns in
``(channel, kernel row, kernel column)`` order, as ``weight.reshape(out, -1)``). Each output
pixel's input patch is one column of activations, so the convolution of a ``(N, C, H, W)`` batch
is that sparse matrix times the ``(C * kh * kw, N * Ho * Wo)`` patch matrix (im2col), which the
batch kernels multiply with the weights decoded once per chunk of 16 pixels. im2col was chosen by
measurement over a direct loop (one matrix-vector product per output pixel): see
``docs/benchmarks-log.md`` ("LeNet-5 on the engine").

- ``conv_output_size(h, k, s, p, d)``: torch's floor rule;
- ``im2col(x, kernel, stride, padding, dilation)``: ``(N * Ho * Wo, C * kh * kw)`` float32;
- ``conv2d(cpu, x, attrs, bias, activation)``: the layer on a ``CpuLayout``;
- ``conv2d_reference(layer, x)``: the same through ``eie.engine.reference.spmv`` (the spec);
- ``apply_step(step, h)``: one step between layers (``relu``, ``max_pool2d``, ``avg_pool2d``,
  ``flatten``, ``reshape``) as written by ``eie.compress.graph``.

>>> import numpy as np
>>> im2col(np.arange(9, dtype=np.float32).reshape(1, 1, 3, 3), (2, 2), (1, 1), (0, 0),
...        (1, 1)).tolist()
[[0.0, 1.0, 3.0, 4.0], [1.0, 2.0, 4.0, 5.0], [3.0, 4.0, 6.0, 7.0], [4.0, 5.0, 7.0, 8.0]]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from eie import _core
from eie.engine import kernels, reference
from eie.errors import EngineError
from eie.formats._validate import MAX_POOL_WINDOW, check_activations
from eie.formats.model import Layer

STEP_OPS = ("relu", "max_pool2d", "avg_pool2d", "flatten", "reshape")


def _pair(v: Any, what: str) -> tuple[int, int]:
    if (not isinstance(v, Sequence) or len(v) != 2
            or not all(isinstance(a, int) and not isinstance(a, bool) for a in v)):
        raise EngineError(f"{what} should be two integers, found {v!r}")
    return int(v[0]), int(v[1])


def conv_output_size(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    """Output length along one axis (torch's floor rule)."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def im2col(x: npt.NDArray[np.float32], kernel: tuple[int, int], stride: tuple[int, int],
           padding: tuple[int, int], dilation: tuple[int, int]) -> npt.NDArray[np.float32]:
    """Patches of a ``(N, C, H, W)`` batch as rows: ``(N * Ho * Wo, C * kh * kw)``."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    n, c, h, w = x.shape
    ho, wo = (conv_output_size(h, kh, sh, ph, dh), conv_output_size(w, kw, sw, pw, dw))
    if ho < 1 or wo < 1:
        raise EngineError(f"a {kh}x{kw} convolution (padding {padding}, dilation {dilation}) "
                          f"does not fit a {h}x{w} input")
    check_activations((n, c, h + 2 * ph, w + 2 * pw), "a convolution's padded input")
    check_activations((n * ho * wo, c * kh * kw), "a convolution's patch matrix")
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw))) if ph or pw else x
    span = (dh * (kh - 1) + 1, dw * (kw - 1) + 1)
    win = sliding_window_view(xp, span, axis=(2, 3))[:, :, ::sh, ::sw, ::dh, ::dw]
    win = win[:, :, :ho, :wo]  # (N, C, Ho, Wo, kh, kw)
    return np.ascontiguousarray(win.transpose(0, 2, 3, 1, 4, 5)).reshape(n * ho * wo,
                                                                         c * kh * kw)


def geometry(attrs: Mapping[str, Any], name: str) -> dict[str, Any]:
    """Checked convolution attributes: weight_shape (out, C, kh, kw), stride, padding,
    dilation."""
    ws = attrs.get("weight_shape")
    if (not isinstance(ws, Sequence) or len(ws) != 4
            or not all(isinstance(v, int) and v >= 1 for v in ws)):
        raise EngineError(f"layer {name!r}: weight_shape should be 4 positive integers "
                          f"(out, in, kh, kw), found {ws!r}")
    g = {"weight_shape": tuple(int(v) for v in ws),
         "stride": _pair(attrs.get("stride", [1, 1]), f"layer {name!r}: stride"),
         "padding": _pair(attrs.get("padding", [0, 0]), f"layer {name!r}: padding"),
         "dilation": _pair(attrs.get("dilation", [1, 1]), f"layer {name!r}: dilation")}
    if min(g["stride"]) < 1 or min(g["dilation"]) < 1 or min(g["padding"]) < 0:
        raise EngineError(f"layer {name!r}: stride and dilation should be >= 1 and padding "
                          f">= 0, found {g['stride']}, {g['dilation']}, {g['padding']}")
    # Padding beyond the kernel's extent (dilation * (k - 1), "full" padding) only adds outputs
    # that see no input at all; from a file it is a memory bomb (a 1x1 kernel padded by 10**6).
    extent = [d * (k - 1) for d, k in zip(g["dilation"], ws[2:], strict=True)]
    if g["padding"][0] > extent[0] or g["padding"][1] > extent[1]:
        raise EngineError(f"layer {name!r}: padding should be at most the kernel's extent "
                          f"dilation * (kernel - 1) = {tuple(extent)}, found {g['padding']}")
    return g


def _check_input(x: npt.NDArray, geo: Mapping[str, Any], name: str) -> None:
    out, c, kh, kw = geo["weight_shape"]
    if x.ndim != 4 or x.shape[1] != c:
        raise EngineError(f"layer {name!r} (conv {out}x{c}x{kh}x{kw}) expects (N, {c}, H, W) "
                          f"inputs, found {x.shape}")


def conv2d(cpu: _core.CpuLayout, x: npt.ArrayLike, attrs: Mapping[str, Any],
           bias: npt.ArrayLike | None = None, activation: str | None = None,
           threads: int | None = None, isa: str | None = None, name: str = "conv"
           ) -> npt.NDArray[np.float32]:
    """``act(conv(x, W) + bias)`` for ``x`` of shape ``(N, C, H, W)``: ``(N, out, Ho, Wo)``."""
    geo = geometry(attrs, name)
    xa = np.asarray(x, dtype=np.float32)
    _check_input(xa, geo, name)
    out, c, kh, kw = geo["weight_shape"]
    if (cpu.rows, cpu.cols) != (out, c * kh * kw):
        raise EngineError(f"layer {name!r}: matrix {cpu.rows}x{cpu.cols} does not match "
                          f"weight_shape {list(geo['weight_shape'])}")
    cols = im2col(xa, (kh, kw), geo["stride"], geo["padding"], geo["dilation"])
    y = kernels.matmul(cpu, cols, bias, activation, threads, isa)  # (N * Ho * Wo, out)
    return _to_nchw(y, xa.shape, geo)


def _to_nchw(y: npt.NDArray[np.float32], in_shape: tuple[int, ...], geo: Mapping[str, Any]
             ) -> npt.NDArray[np.float32]:
    n, _, h, w = in_shape
    out, _, kh, kw = geo["weight_shape"]
    ho = conv_output_size(h, kh, geo["stride"][0], geo["padding"][0], geo["dilation"][0])
    wo = conv_output_size(w, kw, geo["stride"][1], geo["padding"][1], geo["dilation"][1])
    return np.ascontiguousarray(y.reshape(n, ho, wo, out).transpose(0, 3, 1, 2))


def conv2d_reference(layer: Layer, x: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """The convolution through the reference engine, one output pixel at a time (the spec)."""
    geo = geometry(layer.attrs, layer.name)
    xa = np.asarray(x, dtype=np.float32)
    _check_input(xa, geo, layer.name)
    _, _, kh, kw = geo["weight_shape"]
    cols = im2col(xa, (kh, kw), geo["stride"], geo["padding"], geo["dilation"])
    y = np.stack([reference.spmv(layer.matrix, v, layer.bias, layer.activation) for v in cols])
    return _to_nchw(y, xa.shape, geo)


def _pool(h: npt.NDArray[np.float32], step: Mapping[str, Any], op: str
          ) -> npt.NDArray[np.float32]:
    if h.ndim != 4:
        raise EngineError(f"{op} expects (N, C, H, W) activations, found {h.shape}")
    k = _pair(step.get("kernel"), f"{op} kernel")
    s = _pair(step.get("stride", step.get("kernel")), f"{op} stride")
    p = _pair(step.get("padding", [0, 0]), f"{op} padding")
    if min(k) < 1 or min(s) < 1 or min(p) < 0 or p[0] * 2 > k[0] or p[1] * 2 > k[1]:
        raise EngineError(f"{op}: kernel {k}, stride {s}, padding {p} is not a valid pooling")
    if h.shape[2] + 2 * p[0] < k[0] or h.shape[3] + 2 * p[1] < k[1]:
        raise EngineError(f"{op} with kernel {k} does not fit activations {h.shape}")
    if k[0] * k[1] > MAX_POOL_WINDOW:
        raise EngineError(f"{op}: a {k[0]}x{k[1]} window has more than {MAX_POOL_WINDOW} "
                          "elements")
    n, c, hh, ww = h.shape
    check_activations((n, c, hh + 2 * p[0], ww + 2 * p[1]), f"{op}'s padded input")
    check_activations((n, c, (hh + 2 * p[0] - k[0]) // s[0] + 1,
                       (ww + 2 * p[1] - k[1]) // s[1] + 1, k[0], k[1]), f"{op}'s window work")
    fill = -np.inf if op == "max_pool2d" else 0.0
    hp = np.pad(h, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])), constant_values=fill) \
        if p[0] or p[1] else h
    ho = (hp.shape[2] - k[0]) // s[0] + 1
    wo = (hp.shape[3] - k[1]) // s[1] + 1
    # One strided slice per kernel offset, reduced in place (a window view reduced over its
    # last axes measured ~20x slower on LeNet-5's 24x24 maps).
    out: npt.NDArray[np.float32] | None = None
    for i in range(k[0]):
        for j in range(k[1]):
            sl = hp[:, :, i:i + s[0] * (ho - 1) + 1:s[0], j:j + s[1] * (wo - 1) + 1:s[1]]
            if out is None:
                out = np.array(sl, dtype=np.float32)
            elif op == "max_pool2d":
                np.maximum(out, sl, out=out)
            else:
                out += sl
    assert out is not None
    if op == "avg_pool2d":  # count_include_pad: zero padding counts in the divisor (torch's)
        out /= np.float32(k[0] * k[1])
    return out


def apply_step(step: Mapping[str, Any], h: npt.NDArray[np.float32]
               ) -> npt.NDArray[np.float32]:
    """One step between stored layers on a batch ``h`` of shape ``(N, ...)``."""
    op = step.get("op") if isinstance(step, Mapping) else None
    if op == "relu":
        return np.maximum(h, np.float32(0.0))
    if op in ("max_pool2d", "avg_pool2d"):
        return _pool(h, step, op)
    if op == "flatten":
        return h.reshape(h.shape[0], -1)
    if op == "reshape":
        shape = step.get("shape")
        if not isinstance(shape, Sequence) or not all(isinstance(v, int) for v in shape):
            raise EngineError(f"reshape step should give a per-sample shape, found {shape!r}")
        try:
            return h.reshape(h.shape[0], *shape)
        except ValueError:
            raise EngineError(f"cannot reshape activations {h.shape} to (N, "
                              f"{', '.join(map(str, shape))})") from None
    raise EngineError(f"unknown step {step!r} between layers; expected op one of {STEP_OPS}")


def check_steps(steps: Any, name: str) -> list[Mapping[str, Any]]:
    """Validate a layer's ``then`` / ``before`` list from a file."""
    if not isinstance(steps, Sequence) or isinstance(steps, str):
        raise EngineError(f"layer {name!r}: steps should be a list, found {steps!r}")
    for s in steps:
        if not isinstance(s, Mapping) or s.get("op") not in STEP_OPS:
            raise EngineError(f"layer {name!r}: unknown step {s!r}; expected op one of "
                              f"{STEP_OPS}")
    return list(steps)
