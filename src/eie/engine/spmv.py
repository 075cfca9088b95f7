"""``spmv``: one ``EIEMatrix`` times a vector (or a small batch) on the C++ kernels.

The first call on a matrix transcodes it into a CPU layout (``eie.engine.layout``) and caches the
layout on the side (keyed by the matrix object, released with it), so repeated calls pay only the
multiply.
"""

from __future__ import annotations

import functools
import threading
import weakref

import numpy as np
import numpy.typing as npt

from eie import _core
from eie.engine import kernels, layout, tuning
from eie.errors import EngineError
from eie.formats.eie_matrix import EIEMatrix

_cache: weakref.WeakKeyDictionary[EIEMatrix, dict[str, _core.CpuLayout]] = \
    weakref.WeakKeyDictionary()
_lock = threading.Lock()
_by_id: dict[int, tuple[weakref.ref[EIEMatrix], dict[str, _core.CpuLayout]]] = {}
"""The same layouts by ``id(m)`` for the lookup of a call (a WeakKeyDictionary lookup builds a
weak reference each time); the weak reference tells a recycled id from the matrix, and the
entry goes with the matrix."""


def prepared(m: EIEMatrix, layout_name: str = "auto") -> _core.CpuLayout:
    """The cached CPU layout of ``m`` (built on first use). A cached call costs a dictionary
    lookup: nothing proportional to the matrix (its density is only needed to build)."""
    hit = _by_id.get(id(m))
    if hit is not None and hit[0]() is m:
        cached = hit[1].get(layout_name)
        if cached is not None:
            return cached
    layout.check_layout_name(layout_name)
    if not isinstance(m, EIEMatrix):
        raise EngineError(f"spmv takes an EIEMatrix, found {type(m).__name__}")
    if not layout.supports(m):
        raise EngineError(f"the CPU kernels take codebooks of at most {layout.MAX_CODEBOOK} "
                          f"entries ({layout.ROWWISE_MAX_CODEBOOK} for group codebooks), this "
                          f"matrix has {m.codebook_len}; use eie.engine.reference.spmv")
    kind = ("colrow" if layout_name == "colrow"
            else "sparse" if layout_name == "sparse" and m.group_rows and m.zero_code
            else "rowwise" if layout.is_grouped(m) or layout_name == "rowwise"
            else layout.choose_layout(m.density, layout_name, m.codebook_len))
    # "auto" builds as "auto" (a dense layout may then hold a batch twin, layout.py), which
    # serves an explicit request for its kind too only when it holds none.
    auto = layout_name == "auto" and kind in ("sparse", "dense")
    slot = "auto" if auto else kind
    with _lock:
        per = _cache.setdefault(m, {})
        lay = per.get(slot)
    if lay is None:
        lay = layout.from_matrix(m, "auto" if auto else kind)
        with _lock:
            lay = _cache[m].setdefault(slot, lay)
    with _lock:
        per = _cache[m]
        per[layout_name] = lay  # "auto" resolves to the same layout from now on
        if auto and not lay.has_batch_twin:
            per.setdefault(kind, lay)
        key = id(m)
        if key not in _by_id or _by_id[key][0]() is not m:
            _by_id[key] = (weakref.ref(m, functools.partial(_forget, key)), per)
    return lay


def _forget(key: int, _ref: object = None) -> None:
    with _lock:
        entry = _by_id.get(key)
        if entry is not None and entry[0]() is None:
            del _by_id[key]


def spmv(m: EIEMatrix, x: npt.ArrayLike, bias: npt.ArrayLike | None = None,
         activation: str | None = None, threads: int | None = None, layout: str = "auto",
         isa: str | None = None, input_dtype: str | None = None, out_dtype: str | None = None,
         precision: str = "fp32") -> npt.NDArray[np.float32]:
    """``act(W @ x + bias)`` for ``x`` of shape ``(cols,)`` or ``(batch, cols)``.

    ``layout`` forces the CPU layout ("sparse" or "dense"); ``threads`` defaults to
    ``EIE_NUM_THREADS`` or the hardware concurrency; ``isa`` forces "scalar", "avx2" or "avx512". ``x`` may be float32, float16 or
    bfloat16 (``ml_dtypes``, or raw bits as uint16 with ``input_dtype="bfloat16"``);
    ``out_dtype="input"`` returns the input's dtype instead of float32.

    ``precision="bf16"`` (opt-in, see ``eie.engine.kernels``): batches of 2..16 may round the
    inputs and codebooks to bfloat16 and run on AMX tiles (or, without them, on AVX512-BF16 dot
    products); with ``layout="auto"``, a layer the
    automatic choice gives the dense layout then takes the rowwise one for such batches (built
    on first use beside the other), where this CPU runs that kernel. An fp32 batch of 2..16
    mostly nonzero inputs may likewise take a dense 4-bit layer's rowwise layout where this
    CPU's tuning says it is faster (``eie.engine.tuning``, ``rowwise_batch_min_act``).
    ``precision="int8"`` (opt-in, ``eie.engine.kernels``): inputs and codebooks may be rounded
    to int8 for the rowwise layout's integer kernels (AVX-512 VNNI, AVX2); a layer the automatic choice gives the dense
    4-bit layout then takes the rowwise one at any batch (built on first use) when at least
    ``layout.INT8_MIN_ACT`` of the inputs are nonzero, where this CPU runs that kernel.

    >>> import numpy as np
    >>> from eie.formats import EIEMatrix
    >>> m = EIEMatrix.from_codes([[1, 0], [0, 2]], np.array([0, 0.5, -1], np.float32), num_pes=2)
    >>> spmv(m, np.array([2.0, 1.0], np.float32), bias=[0.0, 0.5], activation="relu").tolist()
    [1.0, 0.0]
    """
    lay = chosen_layout(m, x, layout, isa, precision)
    return kernels.matmul(lay, x, bias, activation, threads, isa,
                          input_dtype=input_dtype, out_dtype=out_dtype, precision=precision)


def chosen_layout(m: EIEMatrix, x: npt.ArrayLike, layout: str = "auto", isa: str | None = None,
                  precision: str = "fp32") -> _core.CpuLayout:
    """The CPU layout ``spmv(m, x, layout=..., isa=..., precision=...)`` runs (built and cached
    on first use)."""
    lay = prepared(m, layout)
    if precision == "int8":
        rowwise = _int8_layout(m, lay, layout, x, isa)
        if rowwise is not lay:
            return rowwise  # else the fp32 choice, as the fp32 kernels run
    elif precision != "fp32":
        kernels.check_precision(precision)
        lay = _bf16_layout(m, lay, layout, x, isa)
    if layout == "auto" and lay.kind == "dense" and lay.code_bits == 4:
        lay = _batch_layout(m, lay, x, isa)  # also where precision="bf16" runs fp32 kernels
    return lay


def _batch_layout(m: EIEMatrix, lay: _core.CpuLayout, x: npt.ArrayLike,
                  isa: str | None) -> _core.CpuLayout:
    """The layout an fp32 batch of a dense 4-bit layer runs: its rowwise layout where this CPU's
    tuning (``rowwise_batch_min_act``) says the rowwise kernel beats the dense batch path for
    inputs this dense. The count of nonzero inputs is proportional to the input only."""
    shape = np.shape(x)
    if len(shape) != 2 or not 2 <= shape[0] <= kernels.MAX_BATCH or lay.has_batch_twin:
        return lay  # a pruned layer's batch twin (its row view) was fitted for its batches
    min_act = tuning.constants(isa or kernels.active_isa_name())["rowwise_batch_min_act"]
    if min_act > 1.0 or np.count_nonzero(x) < min_act * shape[0] * shape[1]:
        return lay
    return prepared(m, "rowwise")


def _int8_layout(m: EIEMatrix, lay: _core.CpuLayout, layout_name: str, x: npt.ArrayLike,
                 isa: str | None) -> _core.CpuLayout:
    """The layout a ``precision="int8"`` call runs: the rowwise one instead of the automatic
    dense choice where this CPU runs the int8 kernel (any batch) and at least
    ``layout.INT8_MIN_ACT`` of the inputs are nonzero (the int8 kernel decodes every weight;
    the dense layout's fp32 kernel skips the zero inputs' columns). The count is proportional
    to the input only."""
    if layout_name != "auto" or lay.kind != "dense" or lay.code_bits != 4:
        return lay
    if not kernels.int8_runs(isa):
        return lay
    if np.count_nonzero(x) < layout.INT8_MIN_ACT * np.size(x):
        return lay
    return prepared(m, "rowwise")


def _bf16_layout(m: EIEMatrix, lay: _core.CpuLayout, layout_name: str, x: npt.ArrayLike,
                 isa: str | None) -> _core.CpuLayout:
    """The layout a ``precision="bf16"`` call runs: the rowwise one instead of the automatic
    dense choice when the rowwise layout would take this batch on AMX tiles or AVX512-BF16 dot
    products."""
    if layout_name != "auto" or lay.kind != "dense" or lay.code_bits != 4:
        return lay
    shape = np.shape(x)
    if len(shape) != 2 or shape[0] < 2:
        return lay
    if (not (_core.amx_ready() or _core.bf16_dot_ready())
            or (isa or kernels.active_isa_name()) != "avx512"):
        return lay
    return prepared(m, "rowwise")
