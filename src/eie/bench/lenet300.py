"""``eie bench --groups lenet300``: a whole small model, one image at a time.

LeNet-300-100 (784 -> 300 -> 100 -> 10) at Deep Compression's weight densities (8% / 9% / 26%),
random weights with a shared codebook (4 bits by default; ``bits=(4, 5, 6)`` is Deep
Compression's own recipe), stored with 1 PE, input at MNIST's pixel density (~19% nonzero).
Per image (batch 1), same process, same thread count, interleaved medians: the eie ``Engine``
(default settings) against numpy fp32 dense (``w @ h + b`` and ReLU per layer) and torch fp32
dense (``torch.nn.functional.linear``). Small layers measure the per-call overhead more than the
kernels: this is the case that shows it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from eie.bench.timing import interleaved_medians, optional_torch, thread_limits
from eie.engine.engine import Engine
from eie.formats.benchmark_layers import random_codebook, random_codes
from eie.formats.eie_matrix import EIEMatrix
from eie.formats.model import Layer, Model

LENET300 = ((300, 784, 0.08), (100, 300, 0.09), (10, 100, 0.26))
"""(rows, cols, weight density) of fc1, fc2, fc3 (Han et al., Deep Compression, Table 2)."""
DEEP_COMPRESSION_BITS = (4, 5, 6)
"""Codebook bits of fc1, fc2, fc3 in ``eie compress lenet300`` (Deep Compression's recipe; 8-bit
CPU layouts)."""
MNIST_PIXEL_DENSITY = 0.19
"""Fraction of nonzero pixels in an MNIST image."""


def lenet300_model(seed: int = 0, bits: tuple[int, int, int] = (4, 4, 4)) -> Model:
    """A LeNet-300-100-shaped ``Model`` with random codes (1 PE), biases and ReLUs."""
    rng = np.random.default_rng(seed)
    layers = []
    for i, ((rows, cols, density), b) in enumerate(zip(LENET300, bits, strict=True)):
        cb = random_codebook(2 ** b)
        codes = random_codes(rows, cols, density, rng, codebook_entries=2 ** b)
        m = EIEMatrix.from_codes(codes, cb, num_pes=1)
        bias = (rng.standard_normal(rows) * 0.05).astype(np.float32)
        layers.append(Layer(f"fc{i + 1}", m, bias=bias,
                            activation="relu" if i < len(LENET300) - 1 else None))
    return Model(tuple(layers))


def mnist_like_input(seed: int = 0) -> npt.NDArray[np.float32]:
    rng = np.random.default_rng(seed + 1)
    x = rng.random(LENET300[0][1]).astype(np.float32)
    return np.where(rng.random(x.shape) < MNIST_PIXEL_DENSITY, x, np.float32(0))


def run_lenet300(threads: int | None = None, budget_s: float = 1.0, seed: int = 0,
                 bits: tuple[int, int, int] = (4, 4, 4)) -> dict[str, Any]:
    """Per-image median microseconds, wall (``per_image_us``) and calling-thread CPU
    (``per_image_cpu_us``): ``eie``, ``numpy_fp32``, ``torch_fp32`` (when torch is installed);
    and eie's per-layer times; ``threads=None`` is every contender's default."""
    model = lenet300_model(seed, bits)
    engine = Engine(model, threads=threads)
    x = mnist_like_input(seed)
    dense = [(layer.matrix.to_dense().astype(np.float32), np.asarray(layer.bias, np.float32),
              layer.activation == "relu") for layer in model.layers]

    def numpy_dense() -> npt.NDArray[np.float32]:
        h = x
        for w, b, relu in dense:
            h = w @ h + b
            if relu:
                h = np.maximum(h, 0)
        return h

    fns: dict[str, Any] = {"eie": lambda: engine(x), "numpy_fp32": numpy_dense}
    torch = optional_torch()
    if torch is not None:
        tl = [(torch.tensor(w), torch.tensor(b), relu) for w, b, relu in dense]
        xt = torch.from_numpy(x)

        def torch_dense() -> Any:
            with torch.inference_mode():
                h = xt
                for w, b, relu in tl:
                    h = torch.nn.functional.linear(h, w, b)
                    if relu:
                        h = torch.relu(h)
                return h

        fns["torch_fp32"] = torch_dense
    y, want = engine(x), numpy_dense()
    if not np.allclose(y, want, rtol=1e-4, atol=1e-5):
        from eie.errors import EngineError

        raise EngineError(f"lenet300: eie and numpy disagree: max error "
                          f"{np.abs(y - want).max()}")
    if threads is None:
        res, cpu = interleaved_medians(fns, budget_s, min_reps=200, max_reps=20000)
    else:
        with thread_limits(threads):
            res, cpu = interleaved_medians(fns, budget_s, min_reps=200, max_reps=20000)
    layer_times: dict[str, list[float]] = {}
    for _ in range(200):
        engine(x)
        for k, v in engine.timings_us.items():
            layer_times.setdefault(k, []).append(v)
    return {"threads": threads, "bits": list(bits), "kinds": [el.kind for el in engine.layers],
            "per_image_us": res, "per_image_cpu_us": cpu,
            "eie_layers_us": {k: float(np.median(v)) for k, v in layer_times.items()}}
