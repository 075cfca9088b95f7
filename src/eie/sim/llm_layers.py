"""Linear layers of a quantized transformer file (``eie quantize``, ``eie.llm.modelfile``) as
EIE layers for the simulator.

EIE's PE holds one codebook per layer: a 16-entry register file read in the arithmetic unit's
first stage, loaded once with the layer's weights. A layer quantized with one codebook for the
whole matrix (``eie quantize --codebook tensor``, the paper's scheme) maps onto it directly:
each kept weight's code becomes its code + 1 and code 0 stays the zero weight (EIE stores and
broadcasts only nonzeros; fillers are code 0), so a 2**bits-entry table takes 2**bits + 1
hardware entries (a 4-bit dense layer needs the 5-bit codebook hardware). Weights whose table
value is exactly zero are zeros and are not stored.

Per-row and per-group codebooks (``--codebook row|group:N|cols:N``), the linear and fixed-table
schemes with per-group scales (``int4``, ``nf4``, ``iq4nl``) and fp16/bf16 layers are refused
with one line: they need a table per row group in each PE (a codebook SRAM with its capacity,
reload cycles and energy), which the simulator does not model.

>>> import numpy as np
>>> from types import SimpleNamespace
>>> q = SimpleNamespace(scheme="codebook", shape=(2, 2), bits=1, num_groups=1,
...                     group_rows=2, group_cols=2, codes=np.array([[0, 1], [1, 1]], np.uint8),
...                     tables=np.array([[0.5, -1.0]], np.float32), mask=None)
>>> m = to_eie_matrix("fc", q, num_pes=2)
>>> m.to_codes().tolist(), m.codebook.tolist()
([[1, 2], [2, 2]], [0.0, 0.5, -1.0])
"""

from __future__ import annotations

from typing import Any

import numpy as np

from eie.errors import ConfigError
from eie.formats.eie_matrix import EIEMatrix

TENSOR_HINT = "quantize with --codebook tensor (one codebook per layer, EIE's scheme)"


def refusal(name: str, q: Any) -> str | None:
    """Why layer ``name`` cannot run on EIE's one-codebook-per-layer PEs, or None."""
    cols = q.shape[1]
    if q.codes is None:
        return f"layer {name!r} is stored {q.scheme} (no codes); {TENSOR_HINT}"
    if q.scheme != "codebook":
        return (f"layer {name!r} is {q.scheme} with {q.num_groups} scale groups of "
                f"{q.group_rows}x{min(q.group_cols, cols)}; EIE's PEs hold one codebook per "
                f"layer and the per-group tables this needs are not simulated; {TENSOR_HINT}")
    if q.num_groups != 1:
        per = "row" if q.group_rows == 1 and q.group_cols >= cols else "group"
        return (f"layer {name!r} has {q.num_groups} codebooks (one per {per} of "
                f"{q.group_rows}x{min(q.group_cols, cols)}); EIE's PEs hold one codebook per "
                f"layer and per-row codebooks (a codebook SRAM per PE) are not simulated; "
                f"{TENSOR_HINT}")
    if q.bits >= 8:
        return (f"layer {name!r} has a {1 << q.bits}-entry codebook: with code 0 kept for zero "
                f"it needs {(1 << q.bits) + 1} entries, more than 8-bit codes address")
    return None


def to_eie_matrix(name: str, q: Any, num_pes: int, index_bits: int = 4) -> EIEMatrix:
    """The layer as an ``EIEMatrix`` (ConfigError with one line when it cannot be)."""
    why = refusal(name, q)
    if why is not None:
        raise ConfigError(why)
    table = np.asarray(q.tables, np.float32).reshape(-1)
    codes = np.asarray(q.codes, np.uint8)
    kept = np.ones(codes.shape, bool) if q.mask is None else np.asarray(q.mask, bool)
    kept &= table[codes] != 0  # exact zeros are not weights
    eie_codes = np.where(kept, codes.astype(np.int64) + 1, 0).astype(np.uint8)
    codebook = np.concatenate(([0.0], table)).astype(np.float32)
    return EIEMatrix.from_codes(eie_codes, codebook, num_pes=num_pes, index_bits=index_bits)
