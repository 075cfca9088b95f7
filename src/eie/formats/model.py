"""The model types: ``Layer`` (one EIE layer with its bias and activation) and ``Model`` (an
ordered list of layers plus where they came from). Both are frozen and validated on
construction; reading and writing them is ``eie.formats.container``'s job.

>>> import numpy as np
>>> from eie.formats.eie_matrix import EIEMatrix
>>> m = EIEMatrix.from_codes([[1, 0], [0, 2]], np.array([0, 1, 2], np.float32), num_pes=2)
>>> model = Model((Layer("fc1", m, activation="relu"), Layer("fc2", m)))
>>> model.is_sequential, model.layer("fc2").activation, model.storage().nnz
(True, None, 4)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from eie._version import __version__
from eie.errors import FormatError
from eie.formats.eie_matrix import EIEMatrix
from eie.formats.storage import StorageBreakdown

ACTIVATIONS = (None, "relu")


@dataclass(frozen=True, eq=False)
class Layer:
    """One layer: ``y = activation(matrix @ x + bias)``."""

    name: str
    matrix: EIEMatrix
    bias: npt.NDArray[np.float32] | None = None
    """``(rows,)`` float32, or None."""
    activation: str | None = None
    """``"relu"`` or None."""
    attrs: Mapping[str, Any] = field(default_factory=dict)
    """JSON-serializable extras, e.g. ``{"kind": "conv2d", "weight_shape": [6, 1, 5, 5]}`` for a
    convolution stored as its (out, in * kh * kw) matrix."""

    def __post_init__(self) -> None:
        if not isinstance(self.attrs, Mapping) or not all(isinstance(k, str) for k in self.attrs):
            raise FormatError(f"layer attrs should be a mapping with string keys, found "
                              f"{type(self.attrs).__name__}")
        try:
            json.dumps(dict(self.attrs))
        except (TypeError, ValueError) as e:
            raise FormatError(f"layer attrs should be JSON-serializable: {e}") from None
        if not isinstance(self.name, str) or not self.name:
            raise FormatError(f"layer name should be a non-empty string, found {self.name!r}")
        if not isinstance(self.matrix, EIEMatrix):
            raise FormatError(f"layer {self.name!r}: matrix should be an EIEMatrix, "
                              f"found {type(self.matrix).__name__}")
        if self.activation not in ACTIVATIONS:
            raise FormatError(f"layer {self.name!r}: activation should be one of {ACTIVATIONS}, "
                              f"found {self.activation!r}")
        if self.bias is not None:
            b = np.ascontiguousarray(self.bias, dtype=np.float32)
            if b.shape != (self.matrix.rows,):
                raise FormatError(f"layer {self.name!r}: bias should have shape "
                                  f"({self.matrix.rows},), found {b.shape}")
            if not np.all(np.isfinite(b)):
                raise FormatError(f"layer {self.name!r}: bias contains NaN or infinity")
            b.setflags(write=False)
            object.__setattr__(self, "bias", b)

    def equals(self, other: Layer) -> bool:
        same_bias = (self.bias is None and other.bias is None) or (
            self.bias is not None and other.bias is not None
            and np.array_equal(self.bias, other.bias))
        return (self.name == other.name and self.activation == other.activation and same_bias
                and dict(self.attrs) == dict(other.attrs) and self.matrix.equals(other.matrix))


@dataclass(frozen=True, eq=False)
class Model:
    """An ordered list of layers plus a description of where they came from."""

    layers: tuple[Layer, ...]
    source: str = ""
    """Free-text description of the source model (architecture, data set, recipe)."""
    metadata: Mapping[str, Any] = field(default_factory=dict)
    """JSON-serializable extras (accuracy, recipe, seeds, ...)."""
    creator: str = f"eie {__version__}"

    def __post_init__(self) -> None:
        layers = tuple(self.layers)
        if not layers:
            raise FormatError("a model should have at least one layer")
        names = [layer.name for layer in layers]
        if len(set(names)) != len(names):
            raise FormatError(f"layer names should be unique, found {names}")
        for layer in layers:
            if not isinstance(layer, Layer):
                raise FormatError(f"layers should be eie.Layer objects, found "
                                  f"{type(layer).__name__}")
        try:
            json.dumps(dict(self.metadata))
        except (TypeError, ValueError) as e:
            raise FormatError(f"model metadata should be JSON-serializable: {e}") from None
        if not isinstance(self.metadata, Mapping):
            raise FormatError(f"model metadata should be a mapping, found "
                              f"{type(self.metadata).__name__}")
        object.__setattr__(self, "layers", layers)

    def layer(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(f"no layer named {name!r}; layers are {[x.name for x in self.layers]}")

    @property
    def is_sequential(self) -> bool:
        """True when each layer's outputs are the next layer's inputs (shapes chain)."""
        return all(a.matrix.rows == b.matrix.cols for a, b in zip(self.layers, self.layers[1:],
                                                                   strict=False))

    def storage(self) -> StorageBreakdown:
        total = self.layers[0].matrix.storage()
        for layer in self.layers[1:]:
            total = total + layer.matrix.storage()
        return total

    def equals(self, other: Model) -> bool:
        return (self.source == other.source and dict(self.metadata) == dict(other.metadata)
                and len(self.layers) == len(other.layers)
                and all(a.equals(b) for a, b in zip(self.layers, other.layers, strict=True)))
