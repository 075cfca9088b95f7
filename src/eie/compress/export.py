"""From a weight-shared torch model to an ``eie.Model`` (the ``.eie`` file's contents).

Each compressed layer becomes an ``eie.Layer`` whose matrix is its codes in EIE's format over
``num_pes`` PEs, with its float32 bias and the activation that follows it
(``models.layer_activations``). A convolution is stored as its ``(out, in * kh * kw)`` matrix with
``attrs = {"kind": "conv2d", "weight_shape": [...], "stride": [...], "padding": [...]}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from eie.compress.models import compressible_layers, layer_activations
from eie.compress.share import SharedLayer
from eie.errors import CompressionError
from eie.formats.container import Layer, Model
from eie.formats.eie_matrix import EIEMatrix


def to_eie_model(model: nn.Module, shared: Mapping[str, SharedLayer], num_pes: int = 1,
                 index_bits: int | Mapping[str, int] = 4, source: str = "",
                 metadata: Mapping[str, Any] | None = None) -> Model:
    """Every compressible layer of ``model`` (all must be in ``shared``) as an ``eie.Model``."""
    layers = compressible_layers(model)
    acts = layer_activations(model)
    missing = [n for n, _ in layers if n not in shared]
    if missing:
        raise CompressionError(f"layers {missing} have no codebook; add a quantize stage that "
                               "covers every layer before exporting to .eie")
    extra_fn = getattr(model, "eie_layer_attrs", None)
    extra = extra_fn() if callable(extra_fn) else {}
    out = []
    for (name, mod), act in zip(layers, acts, strict=True):
        s = shared[name]
        if not s.zero_code:
            raise CompressionError(f"layer {name!r} was shared without a zero code; EIE's "
                                   "format needs code 0 = zero (share_weights(zero_code=True))")
        ib = index_bits if isinstance(index_bits, int) else int(index_bits.get(name, 4))
        matrix = EIEMatrix.from_codes(s.codes, s.codebook, num_pes, ib, weight_bits=s.bits)
        b = mod.bias
        bias = b.detach().numpy().astype(np.float32) if isinstance(b, torch.Tensor) else None
        attrs: dict[str, Any] = {"kind": "linear"}
        if isinstance(mod, nn.Conv2d):
            attrs = {"kind": "conv2d", "weight_shape": list(mod.weight.shape),
                     "stride": list(mod.stride), "padding": list(mod.padding)}  # type: ignore[arg-type]
        out.append(Layer(name, matrix, bias, act, {**attrs, **extra.get(name, {})}))
    return Model(tuple(out), source=source, metadata=dict(metadata or {}))
