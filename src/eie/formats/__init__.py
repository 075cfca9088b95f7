"""EIE storage formats (numpy only, no torch).

- ``EIEMatrix``: one layer in EIE's interleaved CSC format (``eie_matrix``);
- ``StorageBreakdown``: exact bits per storage category (``storage``);
- the ``.eie`` container holding many layers (``container``);
- import/export of the EIE authors' simulator layout (``eiesim``).
"""

from eie.formats.eie_matrix import EIEMatrix, PESlice
from eie.formats.storage import StorageBreakdown

__all__ = ["EIEMatrix", "PESlice", "StorageBreakdown"]
