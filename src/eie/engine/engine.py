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
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from eie import _core
from eie.engine import kernels, layout, reference
from eie.errors import EngineError
from eie.formats.container import Layer, Model, load
from eie.formats.eie_matrix import EIEMatrix


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
    wall time in microseconds."""

    def __init__(self, model: Model | Layer | EIEMatrix, layout_name: str = "auto",
                 threads: int | None = None, isa: str | None = None) -> None:
        if isinstance(model, EIEMatrix):
            model = Layer("layer0", model)
        if isinstance(model, Layer):
            model = Model((model,))
        if not isinstance(model, Model):
            raise EngineError(f"Engine takes an eie.Model, Layer or EIEMatrix, found "
                              f"{type(model).__name__}")
        if not model.is_sequential:
            shapes = [layer.matrix.shape for layer in model.layers]
            raise EngineError(f"Engine runs sequential models (each layer's rows = the next "
                              f"layer's cols), found layer shapes {shapes}")
        for layer in model.layers:
            kind = layer.attrs.get("kind", "linear")
            if kind != "linear":
                raise EngineError(f"layer {layer.name!r} is a {kind!r} layer; Engine runs "
                                  "linear (fully-connected) layers only")
        layout.check_layout_name(layout_name)
        self.model = model
        # EIE_NUM_THREADS and EIE_ISA are validated here, once (reading os.environ costs ~2 us,
        # as much as a small layer); the core still follows EIE_NUM_THREADS at run time.
        self._nthreads = kernels.check_threads(threads)
        self._isa_name = kernels.check_isa(isa)
        self.threads = self._nthreads or None
        self.isa = self._isa_name or None
        self.layers = tuple(
            EngineLayer(layer, layout.from_matrix(layer.matrix, layout_name, threads)
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
        if all(el.cpu is not None for el in self.layers):
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

    @classmethod
    def load(cls, path: str | os.PathLike[str], layout_name: str = "auto",
             threads: int | None = None, isa: str | None = None) -> Engine:
        """Read a ``.eie`` file and prepare it."""
        return cls(load(path), layout_name, threads, isa)

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
                                   out_dtype if i == last else None)
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
            net.run_f32(xa, out, self._times, nthreads, self._isa_name)
            return out
        if xa.ndim not in (1, 2) or xa.shape[-1] != net.cols:
            raise EngineError(f"x should have shape ({net.cols},) or (batch, {net.cols}), found "
                              f"{xa.shape}")
        xk, kind = kernels.as_kernel_input(xa, input_dtype)
        out = np.empty((*xk.shape[:-1], net.rows), np.float32)
        try:
            if kind == "float32":
                net.run_f32(xk, out, self._times, nthreads, self._isa_name)
            else:
                net.run_u16(xk, kind, out, self._times, nthreads, self._isa_name)
        except ValueError as e:
            raise EngineError(str(e)) from None
        return kernels.finish_output(out, xa.dtype, input_dtype, out_dtype)

    def __repr__(self) -> str:
        kinds = ", ".join(f"{el.layer.name}:{el.kind}" for el in self.layers)
        return f"Engine({kinds})"


_F32 = np.dtype(np.float32)


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
