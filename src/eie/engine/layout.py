"""CPU layouts: an ``EIEMatrix`` (or a code matrix) transcoded once for the C++ kernels.

EIE's own format (4-bit code + 4-bit *relative* row index, rows interleaved over PEs, fillers)
suits hardware that walks one entry per cycle per PE. On a CPU the serial prefix sum over relative
indices and the fillers cost more than they save, so at load the engine transcodes each layer into
one of two layouts (built in C++, ``csrc/engine/layout.{h,cpp}``, which documents the bytes):

``sparse``
    Rows cut into *row blocks* of at most 4096 rows (a block's fp32 accumulators stay in L1);
    threads take a share of a block's active columns each and their partial sums are added (whole
    columns cost less per entry than half-height ones; results depend on the thread count by
    rounding).
    Inside a block, compressed sparse columns whose entries are ``uint16 (code << 12) | row``:
    the 12-bit absolute in-block row replaces the relative index, so entries decode
    independently (SIMD gathers/scatters, no fillers), at 2 bytes per nonzero weight. Each
    column's entries are sorted by code into runs of four sharing one code (plus a short tail),
    so the kernel looks a weight up once per four read-modify-writes. With 4-bit codes the
    layout also holds its entries by row (the *row view*, column panels of 4096 columns, so
    the entries are stored twice): batches of 2..16 whose inputs together cover most columns
    accumulate each output's batch in registers there instead of updating a batch vector in
    memory per entry, and wide layers use it at batch 1 when the activations are dense.
``dense``
    Every weight a 4-bit code (code 0 = 0.0), two per byte, column-major inside each row block,
    each 16-byte group holding 32 consecutive rows. 0.5 byte per weight and no index at all: the
    layout for layers dense enough that indices cost more than they save (and for W4A16 LLM
    layers). Decoded with SIMD table lookups on the codebook held in registers (AVX2: ``vpshufb``
    on its byte planes; AVX-512: ``vpermps``). Threads take whole row blocks when each keeps
    >= 1024 rows, else a share of the active columns.

Codebooks of 17..256 entries (5- to 8-bit codes, as in Deep Compression's LeNet recipes) get the
same two layouts with 8-bit codes: ``sparse`` keeps the 12-bit row in the uint16 entry and a uint8
code beside it (3 bytes per nonzero), ``dense`` stores one byte per weight; the 1 KiB codebook is
looked up from L1, one scalar load per weight (AVX2 gathers measured slower).

``colrow`` (asked for by name; ``csrc/engine/colrow.h``)
    4-bit codes with a codebook per row or per group of rows (or the shared one), column-major in
    strips of 128 rows: per-row-codebook (transformer) layers that skip zero inputs, where the
    row-major ``rowwise`` layout reads every weight whatever the activations.

Both layouts skip zero activations: a multiply scans ``x`` once into a list of nonzero columns and
each block visits only those columns.

The automatic choice (``layout="auto"``) compares the layer's weight density with the measured
density above which the dense layout is faster on the process ISA (``eie.engine.tuning``). That
choice is made for batch 1: at batches of 2..16 the sparse row view, which streams the nonzeros
once per call, beats the dense batch kernel up to ~35-45% weights. So a dense layout chosen
automatically for a pruned layer of at most ``batch_twin_max_density`` weights also holds the
layer's row view (``CpuLayout.has_batch_twin``; its bytes count in ``nbytes``), and each batch
picks the one its inputs need (``CpuLayout.plan``), in O(1) beyond the active-column scan.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

from eie import _core
from eie.engine import isa_check, kernels
from eie.errors import ConfigError, FormatError
from eie.formats._validate import as_code_matrix
from eie.formats.eie_matrix import EIEMatrix

LayoutName = Literal["auto", "sparse", "dense", "rowwise", "colrow"]
LAYOUTS = ("auto", "sparse", "dense", "rowwise", "colrow")

DENSE_CROSSOVER_DENSITY = 0.21
"""Weight density at and above which ``layout="auto"`` picks the dense layout on ISAs the tuning
table lacks (the table's ``defaults``; ``eie.engine.tuning``; measurements:
docs/benchmarks-log.md)."""

MAX_CODEBOOK = 256
"""The kernels take codebooks of up to 256 entries: 4-bit codes up to 16 entries, 8-bit codes
(``CpuLayout.code_bits == 8``) above."""


def check_layout_name(layout: str) -> None:
    if layout not in LAYOUTS:
        raise ConfigError(f"layout should be one of {LAYOUTS}, found {layout!r}")


DENSE8_CROSSOVER_DENSITY = 0.45
"""The same for 8-bit codes (codebooks of 17..256 entries)."""


def choose_layout(density: float, layout: str = "auto", codebook_len: int = 16) -> str:
    """``"sparse"`` or ``"dense"`` for a layer of this weight density and codebook size on the
    active ISA, from the tuning table (``eie.engine.tuning``); ``layout`` forces it, "rowwise"
    included."""
    check_layout_name(layout)
    if layout != "auto":
        if layout in ("rowwise", "colrow") and codebook_len > ROWWISE_MAX_CODEBOOK:
            raise ConfigError(f"the {layout} layout takes codebooks of at most "
                              f"{ROWWISE_MAX_CODEBOOK} entries (4-bit codes), found "
                              f"{codebook_len}")
        return layout
    from eie.engine import kernels, tuning

    crossover = tuning.crossover(kernels.active_isa_name(), codebook_len)
    return "dense" if density >= crossover else "sparse"


ROWWISE_MAX_CODEBOOK = 16


def is_grouped(matrix: EIEMatrix) -> bool:
    """Group codebooks or every code a value (``zero_code=False``): only "rowwise" runs it."""
    return matrix.group_rows != 0 or not matrix.zero_code


def supports(matrix: EIEMatrix) -> bool:
    """True when the kernels can run this layer: a shared codebook of at most 256 entries, or
    group codebooks (or ``zero_code=False``) of at most 16 entries (the rowwise layout)."""
    if is_grouped(matrix):
        return matrix.codebook_len <= ROWWISE_MAX_CODEBOOK
    return matrix.codebook_len <= MAX_CODEBOOK


def build(codes: npt.NDArray[np.uint8], codebook: npt.NDArray[np.float32], layout: str = "auto",
          threads: int | None = None) -> _core.CpuLayout:
    """Transcode a ``(rows, cols)`` uint8 code matrix (0 = zero weight) into a ``CpuLayout``.

    Raises FormatError on codes outside the codebook or a codebook the kernels cannot take.

    >>> import numpy as np
    >>> cb = np.array([0, 0.5, -1], np.float32)
    >>> codes = np.zeros((64, 64), np.uint8); codes[3, 5] = 2
    >>> lay = build(codes, cb)  # one weight in 4096: far below any dense crossover
    >>> lay.kind, lay.nnz
    ('sparse', 1)
    >>> build(np.array([[1, 0], [0, 2]], np.uint8), cb, layout="dense").kind
    'dense'
    """
    isa_check.engine_isa()  # the tuning table reaches the core before the first build
    cb = np.ascontiguousarray(codebook, dtype=np.float32)
    if cb.ndim != 1 or not 1 <= len(cb) <= MAX_CODEBOOK:
        raise FormatError(f"the CPU kernels take 1-D codebooks of 1..{MAX_CODEBOOK} entries "
                          f"(up to 8-bit codes), found shape {cb.shape}; use "
                          "eie.engine.reference for wider codes")
    if not np.all(np.isfinite(cb)):
        raise FormatError("codebook contains NaN or infinity; every entry should be finite")
    codes = _as_codes(codes, len(cb))
    density = np.count_nonzero(codes) / codes.size if codes.size else 0.0
    kind = choose_layout(density, layout, len(cb))
    nthreads = _threads_hint(threads)
    try:
        if kind == "colrow":
            return _core.build_colrow_layout(codes, cb[None, :], 0)
        return _core.build_cpu_layout(codes, cb, kind, nthreads, batch_twin=layout == "auto")
    except ValueError as e:
        raise FormatError(f"cannot build the {kind} CPU layout: {e}") from None


def _as_codes(codes: npt.ArrayLike, codebook_len: int) -> npt.NDArray[np.uint8]:
    """``codes`` as a C-contiguous uint8 matrix, refusing values a cast would wrap around.

    uint8 codes go through as they are: the C++ build checks their range in its one pass."""
    arr = np.asarray(codes)
    if arr.ndim == 2 and arr.dtype == np.uint8:
        return np.ascontiguousarray(arr)
    return as_code_matrix(arr, codebook_len)


def from_matrix(m: EIEMatrix, layout: str = "auto", threads: int | None = None
                ) -> _core.CpuLayout:
    """Transcode an ``EIEMatrix`` (already validated) into a ``CpuLayout``.

    Layers with group codebooks or ``zero_code=False`` take the rowwise layout ("auto" or
    "rowwise"); the rowwise layout of a shared-codebook layer can be asked for by name."""
    check_layout_name(layout)
    isa_check.engine_isa()  # the tuning table reaches the core before the first build
    if layout == "colrow":
        return build_colrow(m)
    if layout == "sparse" and m.group_rows and m.zero_code:
        return build_sparse_grouped(m, threads)
    if is_grouped(m) or layout == "rowwise":
        return build_rowwise(m, layout)
    kind = choose_layout(m.density, layout, len(m.codebook))
    cb = np.ascontiguousarray(m.codebook, dtype=np.float32)
    if cb.ndim != 1 or not 1 <= len(cb) <= MAX_CODEBOOK:
        raise FormatError(f"the CPU kernels take 1-D codebooks of 1..{MAX_CODEBOOK} entries, "
                          f"found shape {cb.shape}; use eie.engine.reference")
    nthreads = _threads_hint(threads)
    try:  # from the entries: no (rows, cols) code matrix
        return _core.build_cpu_layout_eie(m.codes, m.rel_index, m.pe_offset, m.col_ptr, m.rows,
                                          m.cols, cb, kind, nthreads,
                                          batch_twin=layout == "auto")
    except ValueError as e:
        raise FormatError(f"cannot build the {kind} CPU layout: {e}") from None


INT8_MIN_DENSITY = 0.5
"""Under ``precision="int8"``, an ``Engine`` or ``EIELinear`` (whose layout is chosen once,
before any input is seen) gives shared-codebook 4-bit layers with at least this fraction of
nonzero weights the rowwise layout's int8 kernel, which decodes every weight; pruned layers keep
the layouts that skip their zero weights and activations."""
INT8_MIN_ACT = 0.6
"""Under ``precision="int8"``, ``spmv`` runs a layer laid out dense (4-bit codes) on the int8
kernel when at least this fraction of its inputs are nonzero: the int8 kernel's cost is per
weight, the dense fp32 kernel's per weight of an active column, and the int8 one measured
0.59x as much per weight (AMD Zen 4, AVX-512: 4096x9216 at 35% nonzero inputs 893 vs 527 us,
8791x600 at 100% 116 vs 227 us; docs/benchmarks-log.md)."""


def for_precision(m: EIEMatrix, layout_name: str, threads: int | None, precision: str,
                  isa: str | None) -> _core.CpuLayout:
    """A layer's CPU layout for calls at ``precision``: ``from_matrix``, except that under
    ``precision="int8"`` with ``layout_name="auto"`` a shared-codebook 4-bit layer of at least
    ``INT8_MIN_DENSITY`` nonzero weights takes the rowwise layout where the int8 kernel runs."""
    if (precision == "int8" and layout_name == "auto" and not is_grouped(m)
            and len(m.codebook) <= 16 and kernels.int8_runs(isa)
            and m.density >= INT8_MIN_DENSITY):
        return from_matrix(m, "rowwise", threads)
    return from_matrix(m, layout_name, threads)


def build_rowwise(m: EIEMatrix, layout: str = "rowwise") -> _core.CpuLayout:
    """The rowwise layout (per-row / per-group codebooks; layout.h "ROWWISE") of ``m``."""
    if layout not in ("auto", "rowwise"):
        raise ConfigError(f"a layer with group codebooks or zero_code=False runs on the rowwise "
                          f"layout only, found layout={layout!r}")
    if m.codebook_len > ROWWISE_MAX_CODEBOOK:
        raise FormatError(f"the rowwise layout takes codebooks of at most "
                          f"{ROWWISE_MAX_CODEBOOK} entries (4-bit codes), found "
                          f"{m.codebook_len}; use eie.engine.reference")
    cb = m.codebook if m.group_rows else m.codebook[None, :]
    try:
        return _core.build_rowwise_layout(m.to_codes(), np.ascontiguousarray(cb, np.float32),
                                          m.group_rows)
    except ValueError as e:
        raise FormatError(f"cannot build the rowwise CPU layout: {e}") from None


def build_colrow(m: EIEMatrix) -> _core.CpuLayout:
    """The colrow layout (column-major, per-row / per-group codebooks, zero inputs skipped;
    ``csrc/engine/colrow.h``) of ``m``: any codebook of at most 16 entries, shared or grouped,
    with or without the zero-code rule (code 0 decodes through the codebook, whose entry 0 is 0.0
    when ``zero_code``)."""
    if m.codebook_len > ROWWISE_MAX_CODEBOOK:
        raise FormatError(f"the colrow layout takes codebooks of at most "
                          f"{ROWWISE_MAX_CODEBOOK} entries (4-bit codes), found "
                          f"{m.codebook_len}; use eie.engine.reference")
    cb = m.codebook if m.group_rows else m.codebook[None, :]
    try:
        return _core.build_colrow_layout(m.to_codes(), np.ascontiguousarray(cb, np.float32),
                                         m.group_rows)
    except ValueError as e:
        raise FormatError(f"cannot build the colrow CPU layout: {e}") from None


def build_sparse_grouped(m: EIEMatrix, threads: int | None = None) -> _core.CpuLayout:
    """The sparse layout of a pruned layer (``zero_code=True``) with group codebooks
    (``csrc/engine/colrow.h``, "SPARSE WITH ROW CODEBOOKS"): the layout holds one codebook per
    row, so its ``group_rows`` reads 1."""
    if m.codebook_len > ROWWISE_MAX_CODEBOOK:
        raise FormatError(f"the sparse layout takes row codebooks of at most "
                          f"{ROWWISE_MAX_CODEBOOK} entries (4-bit codes), found "
                          f"{m.codebook_len}; use eie.engine.reference")
    try:
        return _core.build_sparse_grouped_layout(
            m.to_codes(), np.ascontiguousarray(m.codebook, np.float32), m.group_rows,
            _threads_hint(threads))
    except ValueError as e:
        raise FormatError(f"cannot build the sparse CPU layout: {e}") from None


def _threads_hint(threads: int | None) -> int:
    from eie.engine.kernels import check_threads

    return 0 if threads is None else check_threads(threads)
