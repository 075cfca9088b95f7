"""``eie simulate FILE`` with no flags: hardware from the file, a documented sample input,
``--layer NAME``, convolutions and the steps between layers.

- **Hardware** (``hardware_for``): unless a flag, ``--set`` or ``--config`` says otherwise, the
  simulated EIE has the file's PE count (the most common one over its layers), relative-index
  width and codebook width (``weight_bits`` = the widest layer's, ``codebook_entries`` =
  ``2**weight_bits``); other fields are the paper's design. A layer stored for another PE count
  or index width is re-laid out for the hardware (same weights, new fillers and pointers) and the
  output says so.
- **Input** (``sample_input``) when ``--input`` is absent: ``FILE.input.npy`` if present (as
  written by ``eie convert``); for a bundled model (lenet300, lenet5) the first test image of
  the bundled MNIST digits; else a seeded random input (seed 0): uniform in [0, 1) with half
  the values zero (``SAMPLE_DENSITY``, like activations after a ReLU), of the model's input
  shape. The output says which.
- **Layers**: a chain file (``Model.metadata["graph"]["chain"]``) runs layer after layer, its
  steps (pooling, flatten, ReLU) applied to the float outputs between layers, a convolution as
  one matrix-vector product per output pixel (``eie.sim.conv``); ``--layer NAME`` simulates one
  layer, on the activations the chain gives it (computed by the engine) or, for a file that is
  not a chain, on a sample input of that layer's size.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from eie.errors import ConfigError
from eie.formats.model import Layer, Model

SAMPLE_SEED = 0
SAMPLE_DENSITY = 0.5
BUNDLED = ("lenet300", "lenet5")


def hardware_for(model: Model, base: Any, explicit: set[str]) -> tuple[Any, dict[str, str]]:
    """(HardwareConfig, where each file-derived field came from)."""
    pes = Counter(ly.matrix.num_pes for ly in model.layers).most_common(1)[0][0]
    index_bits = max(ly.matrix.index_bits for ly in model.layers)
    weight_bits = max(max(ly.matrix.weight_bits, (len(ly.matrix.codebook) - 1).bit_length())
                      for ly in model.layers)
    want = {"num_pes": pes, "index_bits": index_bits, "weight_bits": weight_bits,
            "codebook_entries": 1 << weight_bits}
    changes = {k: v for k, v in want.items() if k not in explicit}
    if "weight_bits" in explicit and "codebook_entries" not in explicit:
        changes.pop("codebook_entries", None)
    origin = {k: ("the file" if k in changes else "your options") for k in want}
    try:
        cfg = base.replace(**changes) if changes else base
    except ConfigError as e:
        raise ConfigError(f"the file needs {changes} but that does not fit the other hardware "
                          f"options: {e}") from None
    return cfg, origin


def relaid(layer: Layer, config: Any) -> str | None:
    m = layer.matrix
    if (m.num_pes, m.index_bits) == (config.num_pes, config.index_bits):
        return None
    return (f"{m.num_pes} PEs / {m.index_bits}-bit index in the file -> {config.num_pes} PEs / "
            f"{config.index_bits}-bit index")


def _chain(model: Model) -> bool:
    g = model.metadata.get("graph")
    if isinstance(g, Mapping):
        return bool(g.get("chain"))
    return model.is_sequential and all(ly.attrs.get("kind", "linear") == "linear"
                                       for ly in model.layers)


def input_shape(model: Model) -> tuple[int, ...] | None:
    """One sample's input shape, when the file says it (or it is a vector)."""
    g = model.metadata.get("graph")
    if isinstance(g, Mapping) and isinstance(g.get("input_shape"), list):
        return tuple(int(v) for v in g["input_shape"])
    first = model.layers[0]
    for step in first.attrs.get("before", []):
        if isinstance(step, Mapping) and step.get("op") == "reshape":
            return (int(np.prod(step["shape"])),)
    if first.attrs.get("kind", "linear") == "linear":
        return (first.matrix.cols,)
    return None


def _bundled(model: Model) -> str | None:
    words = model.source.split()
    return words[0] if words and words[0] in BUNDLED and "MNIST" in model.source else None


def sample_input(model: Model, shape: tuple[int, ...] | None = None
                 ) -> tuple[npt.NDArray[np.float32], str]:
    """(input, a sentence saying what it is); see the module docstring."""
    name = _bundled(model)
    if name is not None and shape is None:
        try:
            from eie.compress.data import mnist_split

            x = mnist_split().x_test[0].numpy()
            return x, f"the first bundled MNIST test image (the {name} data)"
        except ImportError:  # torch absent: fall through to the random sample
            pass
    shape = shape or input_shape(model)
    if shape is None:
        raise ConfigError("the file does not record its input shape; pass --input X.npy (one "
                          "sample in the model's input shape)")
    rng = np.random.default_rng(SAMPLE_SEED)
    x = rng.random(shape).astype(np.float32)
    x[rng.random(shape) >= SAMPLE_DENSITY] = 0.0
    return x, (f"a seeded random input (seed {SAMPLE_SEED}, shape {list(shape)}, uniform in "
               f"[0, 1), {SAMPLE_DENSITY:.0%} nonzero)")


@dataclass
class FileRun:
    records: list[dict[str, Any]]
    output: npt.NDArray[np.float32]


def _layer_float(ly: Layer, h: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """One layer on a float batch, on the engine."""
    from eie.engine import conv, spmv
    from eie.engine.spmv import prepared

    if ly.attrs.get("kind") == "conv2d":
        return conv.conv2d(prepared(ly.matrix), h, ly.attrs, ly.bias, ly.activation,
                           name=ly.name)
    return spmv(ly.matrix, h.reshape(h.shape[0], -1), ly.bias, ly.activation)


def _float_pass(layers: list[Layer], x: npt.NDArray[np.float32], upto: int | None = None,
                steps: bool = True) -> tuple[npt.NDArray[np.float32], float]:
    """(the input of layer ``upto``, or the final output; the largest |activation| seen)."""
    from eie.engine.conv import apply_step

    before, then = _steps(layers) if steps else ([], [[] for _ in layers])
    h = np.asarray(x, np.float32)[None]
    for step in before:
        h = apply_step(step, h)
    peak = float(np.max(np.abs(h), initial=0.0))
    for i, ly in enumerate(layers):
        if i == upto:
            return h[0], peak
        h = _layer_float(ly, h)
        peak = max(peak, float(np.max(np.abs(h), initial=0.0)))
        for step in then[i]:
            h = apply_step(step, h)
    return h[0], peak


def _fmt_for(layers: list[Layer], x: npt.NDArray[np.float32], steps: bool) -> Any:
    """One fixed-point format for the whole run (``FixedPointFormat.calibrate``): the largest
    float activation of the chain (one engine pass, convolutions and steps included) and the
    largest codebook entry."""
    from eie.engine.fixed_point import FixedPointFormat

    _, peak = _float_pass(layers, x, steps=steps)
    return FixedPointFormat.calibrate([peak], [ly.matrix.codebook for ly in layers])


def _steps(layers: list[Layer]) -> tuple[list[Any], list[list[Any]]]:
    return (list(layers[0].attrs.get("before", [])),
            [list(ly.attrs.get("then", [])) for ly in layers])


def simulate_file(model: Model, x: npt.NDArray[np.float32], config: Any,
                  energy_table: Any = None, layer: str | None = None,
                  formats: str | None = None) -> FileRun:
    """Simulate the file (or one layer) on one sample ``x`` (for ``--layer`` in a chain: the
    model's input; otherwise that layer's input). ``formats="per_layer"``: each layer gets the
    fixed-point format of its own input and output ranges instead of one shared format."""
    from eie.engine.conv import apply_step
    from eie.sim import simulate
    from eie.sim.conv import simulate_conv

    layers = list(model.layers)
    steps = True
    plain = all(ly.attrs.get("kind", "linear") == "linear" and "then" not in ly.attrs
                and "before" not in ly.attrs for ly in layers) and model.is_sequential
    if layer is None and plain:  # a chain of linear layers: the simulator's own model path
        result = simulate(model, np.asarray(x, np.float32).reshape(-1), config=config,
                          energy_table=energy_table, fmt=formats)
        recs = result.to_json()
        for ly, rec in zip(layers, recs, strict=True):
            rec["relaid"] = relaid(ly, config)
        return FileRun(recs, result.output)
    if layer is not None:
        names = [ly.name for ly in layers]
        if layer not in names:
            raise ConfigError(f"no layer named {layer!r}; the file's layers are {names}")
        idx = names.index(layer)
        if _chain(model):
            x, _ = _float_pass(layers, x, upto=idx)
        layers, steps = [layers[idx]], False
    elif not _chain(model):
        g = model.metadata.get("graph")
        why = g.get("breaks") if isinstance(g, Mapping) else None
        raise ConfigError(f"the file's layers are not a chain ({why or 'shapes do not chain'}); "
                          f"simulate one with --layer NAME (one of "
                          f"{[ly.name for ly in model.layers]})")
    fmt = _fmt_for(layers, np.asarray(x, np.float32), steps)
    before, then = _steps(layers) if steps else ([], [[]])
    h = np.asarray(x, np.float32)[None]
    for step in before:
        h = apply_step(step, h)
    records = []
    for i, ly in enumerate(layers):
        if formats == "per_layer":  # this layer's own ranges: its input and float output
            from eie.engine.fixed_point import FixedPointFormat

            fmt = FixedPointFormat.calibrate([h, _layer_float(ly, h)], [ly.matrix.codebook])
        if ly.attrs.get("kind") == "conv2d":
            r = simulate_conv(ly, h[0], config, fmt, energy_table)
            rec = r.to_json()
            h = r.output[None]
        else:
            res = simulate(ly.matrix, h.reshape(-1), ly.bias, config, activation=ly.activation,
                           fmt=fmt, energy_table=energy_table, name=ly.name)
            rec = res.to_json()
            h = res.output[None]
        rec["relaid"] = relaid(ly, config)
        records.append(rec)
        for step in then[i]:
            h = apply_step(step, h)
    return FileRun(records, h[0])
