"""From a weight-shared torch model to an ``eie.Model`` (the ``.eie`` file's contents).

Each compressed layer becomes an ``eie.Layer`` whose matrix is its codes in EIE's format over
``num_pes`` PEs, with its float32 bias and the activation its own graph puts after it
(``eie.compress.graph.capture``: a ReLU that directly follows is fused, anything else stays in
torch and the layer gets ``activation=None``). Layers are stored in the order the forward pass
calls them. Layer attributes:

- ``kind``: ``"linear"`` or ``"conv2d"``; a convolution is stored as its ``(out, in * kh * kw)``
  matrix (columns in ``(channel, kernel row, kernel column)`` order) with ``weight_shape``,
  ``stride``, ``padding`` and ``dilation``;
- when the graph is a chain the engine runs: ``then`` (the steps after the layer's activation up
  to the next layer) and, on the first layer, ``before`` (the steps ahead of it), as listed in
  ``eie.compress.graph``.

``Model.metadata["graph"]`` says whether the file is such a chain, and if not, which layer breaks
it, and (when known) ``input_shape``, one sample's shape. Layers without a codebook (a quantize stage that skipped them) cannot be stored in EIE's
format: the export names them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import torch
from torch import nn

from eie.compress.graph import ModelGraph, capture
from eie.compress.models import compressible_layers
from eie.compress.share import SharedLayer
from eie.errors import CompressionError
from eie.formats.eie_matrix import EIEMatrix
from eie.formats.model import Layer, Model


def conv_attrs(mod: nn.Conv2d) -> dict[str, Any]:
    """The ``.eie`` attributes of a convolution (zero padding, groups=1 only)."""
    if mod.groups != 1:
        raise CompressionError(f"convolution with groups={mod.groups}: eie stores and runs "
                               "groups=1 convolutions only")
    if mod.padding_mode != "zeros" or isinstance(mod.padding, str):
        raise CompressionError(f"convolution with padding={mod.padding!r}, padding_mode="
                               f"{mod.padding_mode!r}: eie takes explicit zero padding only")
    return {"kind": "conv2d", "weight_shape": list(mod.weight.shape),
            "stride": list(mod.stride), "padding": list(mod.padding),  # type: ignore[arg-type]
            "dilation": list(mod.dilation)}


def to_eie_model(model: nn.Module, shared: Mapping[str, SharedLayer], num_pes: int = 1,
                 index_bits: int | Mapping[str, int] = 4, source: str = "",
                 metadata: Mapping[str, Any] | None = None,
                 graph: ModelGraph | None = None,
                 input_shape: Sequence[int] | None = None,
                 allow_missing: bool = False) -> Model:
    """Every compressible layer of ``model`` as an ``eie.Model``. All must be in ``shared``,
    unless ``allow_missing``: the others are then left out (they stay in torch, the file is not
    a chain, ``swap`` runs it)."""
    mods = dict(compressible_layers(model))
    missing = [n for n in mods if n not in shared]
    if missing and not allow_missing:
        raise CompressionError(f"layers {missing} have no codebook (EIE's format stores codes); "
                               "quantize them too (remove skip from the quantize stage)")
    if len(missing) == len(mods):
        raise CompressionError("no layer has a codebook: the quantize stage skipped them all")
    g = graph or capture(model)
    if missing:
        g = replace(g, chain=False, steps={}, before=[],
                    breaks=f"layers {missing} are not quantized (skipped) and stay in torch")
        mods = {n: m for n, m in mods.items() if n in shared}
    order = [n for n in g.layers if n in mods] + [n for n in mods if n not in g.layers]
    out = []
    for i, name in enumerate(order):
        mod, s = mods[name], shared[name]
        if not s.zero_code:
            raise CompressionError(f"layer {name!r} was shared without a zero code; EIE's "
                                   "format needs code 0 = zero (share_weights(zero_code=True))")
        ib = index_bits if isinstance(index_bits, int) else int(index_bits.get(name, 4))
        matrix = EIEMatrix.from_codes(s.codes, s.codebook, num_pes, ib, weight_bits=s.bits)
        b = mod.bias
        bias = b.detach().numpy().astype(np.float32) if isinstance(b, torch.Tensor) else None
        attrs: dict[str, Any] = {"kind": "linear"}
        if isinstance(mod, nn.Conv2d):
            attrs = conv_attrs(mod)
        if g.chain:
            if i == 0 and g.before:
                attrs["before"] = g.before
            attrs["then"] = g.steps.get(name, [])
        out.append(Layer(name, matrix, bias, g.activations[name], attrs))
    gm = g.metadata()
    if input_shape is not None:  # one sample's shape, for sample inputs (eie simulate)
        gm["input_shape"] = [int(v) for v in input_shape]
    meta = {**dict(metadata or {}), "graph": gm}
    return Model(tuple(out), source=source, metadata=meta)
