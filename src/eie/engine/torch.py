"""Run a compressed torch model's layers on the CPU engine (the only engine module that
imports torch).

``swap(module, model)`` replaces every ``nn.Linear`` and ``nn.Conv2d`` whose qualified name (as in
``module.named_modules()``) matches a layer name of the ``eie.Model`` by an ``EIELinear`` /
``EIEConv2d`` that calls the C++ kernels; the rest of the network (pooling, normalization,
attention, residuals, ...) stays torch, so any graph runs.

>>> import torch, numpy as np, eie
>>> from eie.formats import EIEMatrix
>>> net = torch.nn.Sequential(torch.nn.Linear(2, 2, bias=False))
>>> m = EIEMatrix.from_codes([[1, 0], [0, 2]], np.array([0, 0.5, -1], np.float32), num_pes=2)
>>> swap(net, eie.Model((eie.Layer("0", m),)))
['0']
>>> net(torch.tensor([[2.0, 1.0]])).tolist()
[[1.0, -1.0]]
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from eie.engine import conv, kernels, layout
from eie.errors import ConfigError, EngineError
from eie.formats.model import Layer, Model

__all__ = ["EIEConv2d", "EIELinear", "swap"]

_F32 = torch.float32

try:  # torch's module-wide hook tables (mutated in place, never rebound) and DLPack export
    from torch.nn.modules.module import (
        _global_backward_hooks,
        _global_backward_pre_hooks,
        _global_forward_hooks,
        _global_forward_pre_hooks,
    )

    _to_dlpack = torch._C._to_dlpack
    _tracing = torch._C._get_tracing_state
    _FAST_CALL = True
except (ImportError, AttributeError):  # another torch: every call takes nn.Module's way
    _FAST_CALL = False


class EIELinear(nn.Module):
    """Inference-only ``nn.Linear`` replacement backed by one EIE layer.

    Accepts any leading shape ``(..., in_features)`` and float32 / float16 / bfloat16 inputs;
    returns the input's dtype. Bias and activation come from the layer. ``precision`` "fp32"
    (default) or the opt-in "int8" (``eie.engine.kernels``: float32 inputs of a dense 4-bit or
    rowwise layer may be rounded to int8 for the integer kernels, where this CPU runs one).
    """

    def __init__(self, layer: Layer, layout_name: str = "auto", threads: int | None = None,
                 precision: str = "fp32") -> None:
        super().__init__()
        if not layout.supports(layer.matrix):
            raise EngineError(f"layer {layer.name!r}: the CPU kernels take codebooks of at most "
                              f"{layout.MAX_CODEBOOK} entries")
        if precision not in ("fp32", "int8"):
            raise ConfigError(f"EIELinear's precision should be 'fp32' or 'int8', found "
                              f"{precision!r}")
        self.layer = layer
        self.in_features = layer.matrix.cols
        self.out_features = layer.matrix.rows
        self.threads = threads
        self.precision = precision
        self._cpu = layout.for_precision(layer.matrix, layout_name, threads, precision, None)
        # Checked once here (EIE_NUM_THREADS / EIE_ISA too), so a call pays only the kernel.
        self._nthreads = kernels.check_threads(threads)
        self._isa = kernels.check_isa(None)
        self._bias = None if layer.bias is None else np.ascontiguousarray(layer.bias, np.float32)
        self._relu = layer.activation == "relu"

    def __call__(self, *args: object, **kwargs: object) -> torch.Tensor:
        """``nn.Module.__call__`` (~2-3 µs per call before ``forward``: more than the kernel on a
        small layer) is skipped where it would only call ``forward``: one argument, no hook on
        this module or module-wide, not compiled, not traced. A float32 CPU tensor (cols,) or
        (batch <= 16, cols), contiguous and not requiring grad, then reaches the kernel as a
        DLPack capsule (a fraction of ``x.numpy()``'s cost); whatever the binding refuses (a
        strided tensor, another device or shape: TypeError / ValueError) goes to ``forward``,
        which handles or reports it."""
        if _FAST_CALL and len(args) == 1 and not kwargs:
            x = args[0]
            if not (self._forward_hooks or self._forward_pre_hooks or self._backward_hooks
                    or self._backward_pre_hooks or _global_forward_hooks
                    or _global_forward_pre_hooks or _global_backward_hooks
                    or _global_backward_pre_hooks or self._compiled_call_impl is not None
                    or _tracing()):
                if type(x) is torch.Tensor and x.dtype is _F32 and not x.requires_grad:
                    try:
                        return torch.from_numpy(self._cpu.mv_f32(
                            _to_dlpack(x), self._bias, self._relu, self._nthreads, self._isa,
                            self.precision))
                    except (TypeError, ValueError, RuntimeError):
                        pass
                return self.forward(x)  # type: ignore[arg-type]
        out: torch.Tensor = super().__call__(*args, **kwargs)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype is _F32:
            # The checks on the numpy view: x.numpy() refuses tensors off the CPU or that
            # require grad, and numpy's attributes cost a fraction of torch's.
            try:
                xn = x.numpy()
            except (RuntimeError, TypeError):
                xn = None
            if (xn is not None and xn.flags.c_contiguous and xn.ndim >= 1
                    and xn.shape[-1] == self.in_features):
                return self._forward_f32(x, xn)
        if x.shape[-1] != self.in_features:
            raise EngineError(f"EIELinear({self.layer.name!r}) expects (..., "
                              f"{self.in_features}) inputs, found {tuple(x.shape)}")
        lead = x.shape[:-1]
        t = x.detach().to("cpu").reshape(-1, self.in_features).contiguous()
        if t.dtype == torch.bfloat16:
            bits = t.view(torch.int16).numpy().view(np.uint16)
            y = kernels.matmul(self._cpu, bits, self.layer.bias, self.layer.activation,
                               self.threads, input_dtype="bfloat16")
        else:
            xn = t.numpy() if t.dtype in (torch.float32, torch.float16) else \
                t.to(torch.float32).numpy()
            y = kernels.matmul(self._cpu, xn, self.layer.bias, self.layer.activation,
                               self.threads, precision=self.precision)
        out = torch.from_numpy(y).to(x.dtype if x.dtype.is_floating_point else torch.float32)
        return out.reshape(*lead, self.out_features).to(x.device)

    def _forward_f32(self, x: torch.Tensor, xn: np.ndarray) -> torch.Tensor:
        """The common case: a contiguous float32 CPU tensor, read in place through its numpy view
        ``xn``; up to 16 inputs in one binding call that allocates the output, handed to torch
        without a copy (torch.empty and reshape cost more than the kernel on small layers)."""
        ndim = xn.ndim
        if ndim > 2:
            xn = xn.reshape(-1, self.in_features)
        n = 1 if ndim == 1 else xn.shape[0]
        try:
            if n <= kernels.MAX_BATCH:
                on = self._cpu.mv_f32(xn, self._bias, self._relu, self._nthreads, self._isa,
                                      self.precision)
            else:
                on = np.empty((n, self.out_features), np.float32)
                for lo in range(0, n, kernels.MAX_BATCH):
                    hi = lo + kernels.MAX_BATCH
                    self._cpu.run_f32(xn[lo:hi], on[lo:hi], self._bias, self._relu,
                                      self._nthreads, self._isa, self.precision)
        except ValueError as e:
            raise EngineError(str(e)) from None
        out = torch.from_numpy(on)
        return out if ndim <= 2 else out.reshape(*x.shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"layout={self._cpu.kind}, density={self.layer.matrix.density:.3f}")


class EIEConv2d(nn.Module):
    """Inference-only ``nn.Conv2d`` replacement backed by one ``conv2d`` EIE layer
    (``eie.engine.conv``: im2col on the batch kernels). Takes ``(N, C, H, W)`` or
    ``(C, H, W)``; returns the input's floating dtype."""

    def __init__(self, layer: Layer, layout_name: str = "auto", threads: int | None = None
                 ) -> None:
        super().__init__()
        if not layout.supports(layer.matrix):
            raise EngineError(f"layer {layer.name!r}: the CPU kernels take codebooks of at most "
                              f"{layout.MAX_CODEBOOK} entries")
        self.layer = layer
        self.geometry = conv.geometry(layer.attrs, layer.name)
        self.threads = threads
        self._cpu = layout.from_matrix(layer.matrix, layout_name, threads)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        single = x.dim() == 3
        t = x.detach().to("cpu", torch.float32)
        xn = (t[None] if single else t).contiguous().numpy()
        y = conv.conv2d(self._cpu, xn, self.layer.attrs, self.layer.bias,
                        self.layer.activation, self.threads, name=self.layer.name)
        out = torch.from_numpy(y[0] if single else y)
        return out.to(x.dtype if x.dtype.is_floating_point else torch.float32).to(x.device)

    def extra_repr(self) -> str:
        out, c, kh, kw = self.geometry["weight_shape"]
        return (f"{c}, {out}, kernel_size=({kh}, {kw}), stride={self.geometry['stride']}, "
                f"padding={self.geometry['padding']}, layout={self._cpu.kind}, "
                f"density={self.layer.matrix.density:.3f}")


def _conv_mismatch(sub: nn.Conv2d, layer: Layer) -> str | None:
    if layer.attrs.get("kind") != "conv2d":
        return f"layer {layer.name!r}: the module is an nn.Conv2d, the EIE layer is not a conv2d"
    geo = conv.geometry(layer.attrs, layer.name)
    mine = {"weight_shape": tuple(sub.weight.shape), "stride": tuple(sub.stride),
            "padding": tuple(sub.padding), "dilation": tuple(sub.dilation)}  # type: ignore[arg-type]
    bad = [f"{k} {mine[k]} vs {tuple(geo[k])}" for k in mine if tuple(geo[k]) != mine[k]]
    if sub.groups != 1 or sub.padding_mode != "zeros":
        bad.append(f"groups={sub.groups}, padding_mode={sub.padding_mode!r} (eie runs groups=1 "
                   "with zero padding)")
    if bad:
        return f"layer {layer.name!r}: the module's nn.Conv2d and the EIE layer differ: " + \
            "; ".join(bad)
    return None


def swap(module: nn.Module, model: Model, layout_name: str = "auto",
         threads: int | None = None, strict: bool = True, precision: str = "fp32") -> list[str]:
    """Replace the ``nn.Linear`` and ``nn.Conv2d`` submodules named like ``model``'s layers by
    ``EIELinear`` / ``EIEConv2d``, in place; the rest of the network stays torch.
    ``precision`` applies to the ``EIELinear`` modules ("fp32" or "int8", see ``EIELinear``).

    Returns the swapped names. Every match is checked (shapes, convolution geometry) and, with
    ``strict`` (default), every layer of ``model`` must name such a module, before anything is
    replaced: when it raises ``EngineError`` the module is left untouched.
    """
    layers = {layer.name: layer for layer in model.layers}
    plan: list[tuple[str, nn.Module]] = []
    for name, sub in list(module.named_modules()):
        layer = layers.get(name)
        if layer is None or not isinstance(sub, nn.Linear | nn.Conv2d):
            continue
        if isinstance(sub, nn.Linear):
            if layer.attrs.get("kind", "linear") != "linear":
                raise EngineError(f"layer {name!r}: the module is an nn.Linear, the EIE layer is "
                                  f"a {layer.attrs.get('kind')!r} layer")
            if (sub.out_features, sub.in_features) != layer.matrix.shape:
                raise EngineError(f"layer {name!r}: the model's nn.Linear is "
                                  f"{sub.out_features}x{sub.in_features}, the EIE layer is "
                                  f"{layer.matrix.rows}x{layer.matrix.cols}")
            plan.append((name, EIELinear(layer, layout_name, threads, precision)))
        else:
            why = _conv_mismatch(sub, layer)
            if why:
                raise EngineError(why)
            plan.append((name, EIEConv2d(layer, layout_name, threads)))
    missing = sorted(set(layers) - {n for n, _ in plan})
    if strict and missing:
        have = [n for n, m in module.named_modules() if isinstance(m, nn.Linear | nn.Conv2d)]
        raise EngineError(f"no nn.Linear or nn.Conv2d named {missing} in the module; its "
                          f"Linear and Conv2d layers are {have}")
    for name, new in plan:
        _set_submodule(module, name, new)
    return [n for n, _ in plan]


def _set_submodule(root: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, child, new)
