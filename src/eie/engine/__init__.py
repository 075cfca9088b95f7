"""Engines that run EIE layers: ``reference`` (numpy, the executable spec) and the fast CPU engine.

Importing this package does not import torch.
"""

from eie.engine import reference
from eie.engine.fixed_point import FixedPointFormat, sqnr_db

__all__ = ["FixedPointFormat", "reference", "sqnr_db"]
