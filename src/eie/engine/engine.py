"""``Engine``: a whole ``eie.Model`` on the C++ kernels, layer by layer.

>>> import numpy as np, eie
>>> from eie.formats import EIEMatrix
>>> m = EIEMatrix.from_codes([[1, 0], [0, 2]], np.array([0, 0.5, -1], np.float32), num_pes=2)
>>> eng = Engine(eie.Model((eie.Layer("fc", m, activation="relu"),)))
>>> eng(np.array([2.0, 1.0], np.float32)).tolist()
[1.0, 0.0]
>>> list(eng.timings_us)
['fc']

Every layer is transcoded once, at construction, into the CPU layout its weight density calls for
(``eie.engine.layout``; ``layout=`` forces one): 4-bit codes for codebooks of up to 16 entries,
8-bit codes up to 256. Layers the kernels cannot take (none in valid files) run on the reference
engine. Torch tensors are accepted when torch is installed (it
is never imported eagerly): the result is a tensor of the input's dtype.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from eie import _core
from eie.engine import conv, kernels, layout, reference
from eie.errors import EngineError
from eie.formats._validate import check_activations
from eie.formats.container import load
from eie.formats.eie_matrix import EIEMatrix
from eie.formats.model import Layer, Model


@dataclass(frozen=True)
class EngineLayer:
    """One prepared layer."""

    layer: Layer
    cpu: _core.CpuLayout | None
    """The CPU layout, or None when the layer runs on the reference engine."""

    @property
    def kind(self) -> str:
        """``"sparse"``, ``"dense"`` or ``"reference"``."""
        return "reference" if self.cpu is None else str(self.cpu.kind)


class Engine:
    """Callable running a sequential model: ``y = engine(x)`` for ``x`` of shape ``(cols,)`` or
    ``(batch, cols)`` (numpy or torch). After each call ``timings_us`` maps layer names to their
    wall time in microseconds. ``precision="bf16"`` opts in to bf16 products on rowwise layers,
    ``precision="int8"`` to int8 ones (``eie.engine.kernels``)."""

    def __init__(self, model: Model | Layer | EIEMatrix, layout_name: str = "auto",
                 threads: int | None = None, isa: str | None = None,
                 precision: str = "fp32") -> None:
        if isinstance(model, EIEMatrix):
            model = Layer("layer0", model)
        if isinstance(model, Layer):
            model = Model((model,))
        if not isinstance(model, Model):
            raise EngineError(f"Engine takes an eie.Model, Layer or EIEMatrix, found "
                              f"{type(model).__name__}")
        self._chain = _chain_steps(model)
        self._flatten_input = "before" in model.layers[0].attrs
        if self._chain is None and not model.is_sequential:
            shapes = [layer.matrix.shape for layer in model.layers]
            raise EngineError(f"Engine runs sequential models (each layer's rows = the next "
                              f"layer's cols), found layer shapes {shapes}")
        layout.check_layout_name(layout_name)
        # "bf16" (opt-in, eie.engine.kernels): rowwise layers may round their inputs to bf16
        # for the AMX batch kernel; shared-codebook layers get it with layout_name="rowwise".
        # "int8" (opt-in): rowwise layers may run the int8 kernel, and with layout_name="auto"
        # a shared-codebook 4-bit layer of >= layout.INT8_MIN_DENSITY nonzero weights takes the
        # rowwise layout where it runs (layout.for_precision).
        self.precision = kernels.check_precision(precision)
        self.model = model
        # EIE_NUM_THREADS and EIE_ISA are validated here, once (reading os.environ costs ~2 us,
        # as much as a small layer); the core still follows EIE_NUM_THREADS at run time.
        self._nthreads = kernels.check_threads(threads)
        self._isa_name = kernels.check_isa(isa)
        self.threads = self._nthreads or None
        self.isa = self._isa_name or None
        self.layers = tuple(
            EngineLayer(layer, layout.for_precision(layer.matrix, layout_name, threads,
                                                    self.precision, self.isa)
                        if layout.supports(layer.matrix) else None)
            for layer in model.layers)
        for layer in model.layers:
            if layer.activation not in kernels.ACTIVATIONS:
                raise EngineError(f"layer {layer.name!r}: activation should be one of "
                                  f"{kernels.ACTIVATIONS}, found {layer.activation!r}")
        self._names = [el.layer.name for el in self.layers]
        # When every layer runs on the kernels, the whole model is one C++ call (no Python, no
        # allocation between layers): per image this is what makes small models fast.
        self._net: _core.CpuNetwork | None = None
        if self._chain is None and all(el.cpu is not None for el in self.layers):
            self._net = _core.CpuNetwork(
                [el.cpu for el in self.layers],
                [None if el.layer.bias is None else
                 np.ascontiguousarray(el.layer.bias, dtype=np.float32) for el in self.layers],
                [el.layer.activation == "relu" for el in self.layers])
        self._times = np.zeros(len(self.layers))

    @property
    def timings_us(self) -> dict[str, float]:
        """Wall time of each layer in the last call, in microseconds (measured in C++ when the
        whole model runs on the kernels). Calls from several threads at once share it: it then
        holds one of those calls' figures."""
        return dict(zip(self._names, self._times.tolist(), strict=True))

    def vector_runner(self) -> Callable[[npt.NDArray[np.float32]], npt.NDArray[np.float32]] | None:
        """Where the whole model is one C++ call: a function taking one C-contiguous float32
        vector of ``in_features`` to a new float32 vector of ``out_features``, with this engine's
        threads, ISA and precision and none of ``run``'s other dispatch (the C++ call still
        checks the sizes): 1-3 us less per call, for loops of small multiplies (an LLM decode's
        120 Linear calls per token). None where the model is not one C++ call."""
        net = self._net
        if net is None:
            return None
        rows, times, nt, isa, prec = net.rows, self._times, self._nthreads, self._isa_name, \
            self.precision

        def run(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
            out = np.empty(rows, np.float32)
            net.run_f32(x, out, times, nt, isa, prec)
            return out
        return run

    @classmethod
    def load(cls, path: str | os.PathLike[str], layout_name: str = "auto",
             threads: int | None = None, isa: str | None = None,
             precision: str = "fp32") -> Engine:
        """Read a ``.eie`` file and prepare it."""
        return cls(load(path), layout_name, threads, isa, precision)

    @property
    def in_features(self) -> int:
        return self.layers[0].layer.matrix.cols

    @property
    def out_features(self) -> int:
        return self.layers[-1].layer.matrix.rows

    def __call__(self, x: Any, threads: int | None = None) -> Any:
        if type(x) is not np.ndarray and _is_torch_tensor(x):
            return _run_torch(self, x, threads)
        return self.run(x, threads)

    def run(self, x: npt.ArrayLike, threads: int | None = None, input_dtype: str | None = None,
            out_dtype: str | None = None) -> npt.NDArray:
        """numpy in, numpy out (float32 unless ``out_dtype="input"``)."""
        h: npt.NDArray = np.asarray(x)
        if self._chain is not None:
            return self._run_chain(h, threads)
        if h.ndim > 2 and self._flatten_input:  # the model flattens (N, ...) itself
            h = h.reshape(h.shape[0], -1)
        if self._net is not None:
            return self._run_net(h, threads, input_dtype, out_dtype)
        th = self.threads if threads is None else threads
        last = len(self.layers) - 1
        for i, el in enumerate(self.layers):
            t0 = time.perf_counter()
            if el.cpu is None:
                h = _reference_layer(el.layer, h)
            else:
                h = kernels.matmul(el.cpu, h, el.layer.bias, el.layer.activation, th, self.isa,
                                   input_dtype if i == 0 else None,
                                   out_dtype if i == last else None, self.precision)
            self._times[i] = (time.perf_counter() - t0) * 1e6
        return h

    def _run_net(self, xa: npt.NDArray, threads: int | None, input_dtype: str | None,
                 out_dtype: str | None) -> npt.NDArray:
        """The whole model in one C++ call; checks once per call, O(1)."""
        net = self._net
        assert net is not None
        nthreads = self._nthreads if threads is None else kernels.check_threads(threads)
        if out_dtype is not None:
            kernels.check_out_dtype(out_dtype)
        if (xa.dtype == _F32 and input_dtype is None and xa.ndim == 1
                and xa.shape[0] == net.cols and xa.flags.c_contiguous):  # one float32 vector
            out = np.empty(net.rows, np.float32)
            net.run_f32(xa, out, self._times, nthreads, self._isa_name, self.precision)
            return out
        if xa.ndim not in (1, 2) or xa.shape[-1] != net.cols:
            raise EngineError(f"x should have shape ({net.cols},) or (batch, {net.cols}), found "
                              f"{xa.shape}")
        xk, kind = kernels.as_kernel_input(xa, input_dtype)
        check_activations((*xk.shape[:-1], net.rows), "the model's output")
        out = np.empty((*xk.shape[:-1], net.rows), np.float32)
        try:
            if kind == "float32":
                net.run_f32(xk, out, self._times, nthreads, self._isa_name, self.precision)
            else:
                net.run_u16(xk, kind, out, self._times, nthreads, self._isa_name, self.precision)
        except ValueError as e:
            raise EngineError(str(e)) from None
        return kernels.finish_output(out, xa.dtype, input_dtype, out_dtype)

    def _run_chain(self, x: npt.NDArray, threads: int | None) -> npt.NDArray[np.float32]:
        """A chain with convolutions or steps between layers (``eie.compress.graph``): layer by
        layer, the steps in numpy. ``x`` is a batch in the model's input shape, or one sample
        (a vector for a linear first layer, ``(C, H, W)`` for a convolution)."""
        assert self._chain is not None
        before, then = self._chain
        first = self.layers[0].layer
        conv_first = first.attrs.get("kind") == "conv2d"
        single = not before and x.ndim == (3 if conv_first else 1)
        h = np.asarray(x[None] if single else x, dtype=np.float32)
        if h.ndim < 2:
            raise EngineError(f"x should be a batch (N, ...) in the model's input shape, found "
                              f"{x.shape}")
        th = self.threads if threads is None else threads
        for step in before:
            h = conv.apply_step(step, h)
        for i, el in enumerate(self.layers):
            t0 = time.perf_counter()
            ly = el.layer
            if ly.attrs.get("kind") == "conv2d":
                if el.cpu is None:
                    h = conv.conv2d_reference(ly, h)
                else:
                    h = conv.conv2d(el.cpu, h, ly.attrs, ly.bias, ly.activation, th, self.isa,
                                    ly.name)
            else:
                if h.ndim != 2 or h.shape[1] != ly.matrix.cols:
                    raise EngineError(f"layer {ly.name!r} expects (N, {ly.matrix.cols}) "
                                      f"activations, found {h.shape}")
                h = _reference_layer(ly, h) if el.cpu is None else kernels.matmul(
                    el.cpu, h, ly.bias, ly.activation, th, self.isa, precision=self.precision)
            for step in then[i]:
                h = conv.apply_step(step, h)
            self._times[i] = (time.perf_counter() - t0) * 1e6
        return h[0] if single else h

    def __repr__(self) -> str:
        kinds = ", ".join(f"{el.layer.name}:{el.kind}" for el in self.layers)
        return f"Engine({kinds})"


_F32 = np.dtype(np.float32)


def _chain_steps(model: Model
                 ) -> tuple[list[Any], list[list[Any]]] | None:
    """(steps before the first layer, steps after each layer) when the file stores a graph
    that needs them (convolutions, pooling, reshapes); None for a plain chain of linear layers
    (run as one C++ call). Refuses a file whose graph is not a chain, naming the layer."""
    graph = model.metadata.get("graph")
    if isinstance(graph, Mapping) and graph.get("chain") is False:
        why = graph.get("breaks") or "its graph is not a chain of layers"
        raise EngineError(f"Engine runs a file end to end only when its graph is a chain; here "
                          f"{why}")
    has_steps = any("then" in ly.attrs or "before" in ly.attrs for ly in model.layers)
    kinds = [ly.attrs.get("kind", "linear") for ly in model.layers]
    for ly, kind in zip(model.layers, kinds, strict=True):
        if kind not in ("linear", "conv2d"):
            raise EngineError(f"layer {ly.name!r} is a {kind!r} layer; Engine runs linear and "
                              "conv2d layers")
        if kind == "conv2d":
            if not has_steps:
                raise EngineError(f"layer {ly.name!r} is a convolution but the file does not "
                                  "say what runs between its layers (no 'then' steps); "
                                  "compress it again with this version of eie")
            conv.geometry(ly.attrs, ly.name)
    if not has_steps:
        return None
    before = conv.check_steps(model.layers[0].attrs.get("before", []), model.layers[0].name)
    then = [conv.check_steps(ly.attrs.get("then", []), ly.name) for ly in model.layers]
    simple = (all(k == "linear" for k in kinds) and not any(then)
              and all(s.get("op") == "flatten" for s in before))
    return None if simple and model.is_sequential else (before, then)


def _reference_layer(layer: Layer, h: npt.NDArray) -> npt.NDArray[np.float32]:
    hf = np.asarray(h, dtype=np.float32)
    rows = [reference.spmv(layer.matrix, v, layer.bias, layer.activation)
            for v in hf.reshape(-1, hf.shape[-1])]
    out = np.stack(rows) if rows else np.zeros((0, layer.matrix.rows), np.float32)
    return out[0] if hf.ndim == 1 else out


def _is_torch_tensor(x: object) -> bool:
    """Detect a torch tensor without importing torch."""
    return type(x).__module__.startswith("torch") and hasattr(x, "detach")


def _run_torch(engine: Engine, x: Any, threads: int | None) -> Any:
    import torch

    t = x.detach().cpu().contiguous()
    if t.dtype == torch.bfloat16:
        bits = t.view(torch.int16).numpy().view(np.uint16)
        y = engine.run(bits, threads, input_dtype="bfloat16")
        return torch.from_numpy(y).to(torch.bfloat16)
    y = engine.run(t.numpy(), threads)
    return torch.from_numpy(y).to(t.dtype) if t.dtype.is_floating_point else torch.from_numpy(y)
