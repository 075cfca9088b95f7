"""EIE storage formats (numpy only, no torch).

- ``EIEMatrix``: one layer in EIE's interleaved CSC format (``eie_matrix``);
- ``StorageBreakdown``: exact bits per storage category (``storage``);
- ``Layer`` / ``Model``: the model types, layers with bias and activation (``model``);
- the ``.eie`` container that reads and writes a ``Model`` (``container``);
- import/export of the EIE authors' simulator layout (``eiesim``).
"""

from eie.formats.eie_matrix import EIEMatrix, PESlice
from eie.formats.model import Layer, Model
from eie.formats.storage import StorageBreakdown

__all__ = ["EIEMatrix", "Layer", "Model", "PESlice", "StorageBreakdown"]
