"""Reading a ``.npy`` array someone gave us (``eie run -i``, ``eie simulate --input``,
``eie convert``): its header is checked against the file's size before numpy allocates what the
header declares (a 100-byte file declaring 2**40 floats made ``np.load`` ask for 4 TiB), no
pickled objects, and every failure is a ``FormatError`` naming the file.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import numpy.typing as npt
from numpy.lib import format as npf

from eie.errors import FormatError


def load_npy(path: str | os.PathLike[str]) -> npt.NDArray:
    """The array stored in the ``.npy`` file ``path`` (format 1.0 or 2.0, no object dtypes)."""
    p = Path(path)
    try:
        size = p.stat().st_size
        with open(p, "rb") as f:
            version = npf.read_magic(f)
            if version == (1, 0):
                shape, _fortran, dtype = npf.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, _fortran, dtype = npf.read_array_header_2_0(f)
            else:
                raise FormatError(f"{p}: .npy format version {version} is not supported "
                                  "(expected 1.0 or 2.0)")
            start = f.tell()
    except FormatError:
        raise
    except (OSError, ValueError, EOFError) as e:
        raise FormatError(f"{p}: not a readable .npy array ({e})") from None
    if dtype.hasobject:
        raise FormatError(f"{p}: holds Python objects (dtype {dtype}); expected numbers")
    if not all(isinstance(v, int) and v >= 0 for v in shape):
        raise FormatError(f"{p}: invalid array shape {shape!r} in its header")
    count = 1
    for v in shape:
        count *= v
    need = count * dtype.itemsize
    if need > size - start:
        raise FormatError(f"{p}: its header declares a {shape} {dtype} array ({need} bytes of "
                          f"data) but the file holds {size - start} bytes after the header")
    try:
        return np.load(p, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise FormatError(f"{p}: not a readable .npy array ({e})") from None
