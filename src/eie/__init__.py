"""eie: the Efficient Inference Engine on compressed networks, end to end.

Compress PyTorch models the Deep Compression way (``eie.compress``), store them in EIE's
interleaved CSC format (``eie.formats``), run them fast on a CPU (``eie.engine``) and simulate
the EIE accelerator cycle by cycle (``eie.sim``).

>>> import numpy as np, eie
>>> m = eie.EIEMatrix.from_codes(np.array([[0, 1], [2, 0]]), np.array([0, 0.5, -1], np.float32), num_pes=2)
>>> m.to_dense().tolist()
[[0.0, 0.5], [-1.0, 0.0]]
"""

from eie._version import __version__
from eie.errors import ConfigError, EIEError, FormatError
from eie.formats.container import load, save
from eie.formats.eie_matrix import EIEMatrix
from eie.formats.model import Layer, Model

__all__ = [
    "ConfigError",
    "EIEError",
    "EIEMatrix",
    "FormatError",
    "Layer",
    "Model",
    "__version__",
    "load",
    "save",
]
