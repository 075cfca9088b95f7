"""Engines that run EIE layers: ``reference`` (numpy, the executable spec) and the fast CPU engine.

- ``Engine``: a whole model on the C++ kernels (``Engine.load("model.eie")``);
- ``spmv``: one ``EIEMatrix`` times a vector or small batch (CPU layout cached on first use);
- ``isa_status``: the process ISA (resolved once: CPU support, ``EIE_ISA``, the AVX-512
  self-test) and why; per-call ``isa=`` arguments override it for one call;
- ``use_isa``: set the process ISA ("scalar", "avx2", "avx512") inside a ``with`` block.

Importing this package does not import torch (``eie.engine.torch`` does).
"""

from eie.engine import reference
from eie.engine.engine import Engine
from eie.engine.fixed_point import FixedPointFormat, sqnr_db
from eie.engine.isa_check import isa_status
from eie.engine.kernels import available_isas, use_isa
from eie.engine.spmv import spmv

__all__ = ["Engine", "FixedPointFormat", "available_isas", "isa_status", "reference", "spmv", "sqnr_db",
           "use_isa"]
