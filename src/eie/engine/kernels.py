"""Thin wrappers over the C++ kernels: dtype and shape checks, batching, ISA selection.

Inputs: float32, float16 or bfloat16 (``ml_dtypes.bfloat16`` numpy arrays, or raw bfloat16 bits
as uint16 with ``input_dtype="bfloat16"``); other float/integer dtypes are converted to float32.
The kernels convert 16-bit inputs to fp32 once per call and accumulate in fp32 (W4A16).
Outputs float32, or the input's dtype with ``out_dtype="input"``.

Batches: ``x`` of shape ``(cols,)`` gives ``(rows,)``; ``(batch, cols)`` gives ``(batch, rows)``,
run as matrix x matrix in chunks of 16 (the weights are decoded once per chunk).

Precision: ``precision="fp32"`` (the default) computes every product from the exact input and
weight values. ``precision="bf16"`` is an explicit opt-in for speed: a batch of 2..16 on the
rowwise layout may then run on AMX tiles (or, where the process has none, on AVX512-BF16 dot
products, ``VDPBF16PS``) with the inputs and the codebooks rounded to bfloat16
(to nearest even), products exact and sums in fp32, so each output is within
``BF16_REL_TOL * sum_c |w_rc x_c|`` of the exact one (two roundings of 2^-9 relative each, plus
the fp32 sums). Where neither kernel runs (no AMX and no AVX512-BF16, AVX-512 not allowed,
batch 1, another layout), the fp32 kernels run and the result is the fp32 one;
``CpuLayout.uses_amx`` and ``uses_bf16_dot`` tell which. Inputs that already are bfloat16 on
codebooks holding bfloat16 values take those kernels either way: their products are exact.

``precision="int8"`` is the other opt-in (W4A8, the scheme of llama.cpp's CPU dot products): on
the rowwise layout, with the avx512 ISA on a CPU with AVX-512 VNNI (``_core.vnni_ready``) or with
the avx2 ISA (``int8_runs``), every input is rounded per 128-column chunk to int8 (one scale per chunk, ``max |x| / 127``) and every
codebook to int8 (one scale per codebook, ``max |c| / 127``); the integer products are summed
exactly per chunk, then scaled and summed in fp32. Each output is then within
``int8_error_bound`` of the exact one. Where that kernel does not run (another ISA or layout, or
an input holding an infinity or NaN), the fp32 kernels run; ``CpuLayout.uses_int8`` tells which.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

from eie import _core
from eie.engine import isa_check
from eie.errors import ConfigError, EngineError
from eie.formats._validate import check_activations

ISAS = ("scalar", "avx2", "avx512")
PRECISIONS = ("fp32", "bf16", "int8")
BF16_REL_TOL = 2.0 ** -7
"""Bound of ``|y - y_exact| / sum_c |w_rc x_c|`` under ``precision="bf16"``: each bfloat16
rounding is within 2^-9 relative (8 significant bits, to nearest), a product of two rounded
factors within ~2^-8, fp32 sums add ~cols * 2^-24; 2^-7 leaves a factor of two."""
MAX_BATCH = 16
_F32 = np.dtype(np.float32)
ACTIVATIONS = (None, "relu")


def available_isas() -> list[str]:
    """ISAs this CPU can run, scalar first."""
    best = ISAS.index(_core.best_isa())
    return list(ISAS[: best + 1])


def check_isa(isa: str | None) -> str:
    """The ISA argument for the core: "" for the process ISA (``isa_check.engine_isa``,
    resolved once), else ``isa`` after checking that this CPU runs it (a per-call override)."""
    if isa is None:
        if not isa_check._resolved:
            isa_check.engine_isa()
        return ""
    return isa_check.check_override(isa)


@contextlib.contextmanager
def use_isa(isa: str) -> Iterator[None]:
    """Make ``isa`` the process ISA inside the block, then restore the previous one: the one
    setter (tests force scalar or AVX2 with it; a ``ConfigError`` if this CPU lacks ``isa``).

    The setting is process-wide, so use it from one thread at a time; per-call ``isa=``
    arguments are the thread-safe alternative.

    >>> with use_isa("scalar"):
    ...     active_isa_name()
    'scalar'
    """
    before = isa_check.set_process_isa(isa)
    try:
        yield
    finally:
        isa_check.restore_process_isa(before)


MAX_THREADS = 256
"""Upper bound of ``threads=`` and ``EIE_NUM_THREADS``: the core's pool keeps its workers for the
life of the process, so a runaway count would leave that many OS threads behind."""


def active_isa_name() -> str:
    """The ISA a call without ``isa=`` runs now (``isa_check.engine_isa``)."""
    return isa_check.engine_isa()


def check_threads(threads: int | None) -> int:
    """0 (the core's default: ``EIE_NUM_THREADS`` or the hardware concurrency) or ``threads``
    (1..``MAX_THREADS``)."""
    if type(threads) is int and 1 <= threads <= MAX_THREADS:  # the common case first
        return threads
    if threads is None:
        env = _core.getenv("EIE_NUM_THREADS")
        if env is not None and (not env.isdigit() or not 1 <= int(env) <= MAX_THREADS):
            raise ConfigError(f"EIE_NUM_THREADS should be an integer in 1..{MAX_THREADS}, "
                              f"found {env!r}")
        return 0
    if (isinstance(threads, bool) or not isinstance(threads, int | np.integer)
            or not 1 <= threads <= MAX_THREADS):
        raise ConfigError(f"threads should be an integer in 1..{MAX_THREADS}, found {threads!r}")
    return int(threads)


def default_threads() -> int:
    check_threads(None)
    return int(_core.default_threads())


def as_kernel_input(x: npt.NDArray, input_dtype: str | None
                     ) -> tuple[npt.NDArray, str]:
    """(contiguous 2-D array for the kernel, its kind: 'float32' | 'float16' | 'bfloat16')."""
    if input_dtype is None and x.dtype == np.float32:  # the common case first
        return np.ascontiguousarray(x), "float32"
    if input_dtype == "bfloat16":
        if x.dtype not in (np.uint16, np.int16):
            raise EngineError("input_dtype='bfloat16' expects the raw bits as uint16, found "
                              f"{x.dtype}")
        return np.ascontiguousarray(x).view(np.uint16), "bfloat16"
    if input_dtype is not None:
        raise ConfigError(f"input_dtype should be None or 'bfloat16', found {input_dtype!r}")
    if x.dtype == np.float16:
        return np.ascontiguousarray(x).view(np.uint16), "float16"
    if x.dtype.name == "bfloat16":  # ml_dtypes
        return np.ascontiguousarray(x).view(np.uint16), "bfloat16"
    if x.dtype == np.float32:
        return np.ascontiguousarray(x), "float32"
    if x.dtype.kind in "fiub":
        return np.ascontiguousarray(x, dtype=np.float32), "float32"
    raise EngineError(f"x should hold numbers (float32, float16, bfloat16), found {x.dtype}")


def int8_error_bound(weights: npt.ArrayLike, x: npt.ArrayLike, codebooks: npt.ArrayLike
                     ) -> npt.NDArray[np.float64]:
    """Per output row, a bound of ``|y - y_exact|`` under ``precision="int8"``: ``weights``
    (rows, cols) the decoded weights, ``x`` (cols,) the input, ``codebooks`` (rows, k) each row's
    codebook. Rounding moves each input by at most half its chunk's scale ``s_t`` and each weight
    by at most half its codebook's scale ``s_w``, so the product moves by at most
    ``sum_c |w_c| s_t / 2 + |x_c| s_w / 2 + s_t s_w / 4``; the fp32 scaling and sums add a
    relative 2^-20 of ``sum_c |w_c x_c|`` plus that bound, which this includes."""
    w = np.abs(np.asarray(weights, np.float64))
    xa = np.abs(np.asarray(x, np.float64))
    cols = xa.shape[0]
    pc = -(-cols // 128) * 128
    xp = np.zeros(pc)
    xp[:cols] = xa
    st = np.repeat(xp.reshape(-1, 128).max(1) / 127.0, 128)[:cols]
    sw = np.abs(np.asarray(codebooks, np.float64)).max(1) / 127.0
    bound = w @ st / 2 + sw * xa.sum() / 2 + sw * st.sum() / 4
    return np.asarray(bound + 2.0 ** -20 * (w @ xa + bound), np.float64)


def int8_runs(isa: str | None = None) -> bool:
    """Whether ``precision="int8"`` runs the int8 kernel on a rowwise layout with this ISA
    (``None``: the process ISA): avx512 on a CPU with AVX-512 VNNI, or avx2 where this CPU runs
    it (``available_isas``)."""
    name = isa or active_isa_name()
    if name == "avx512":
        return bool(_core.vnni_ready())
    return name == "avx2" and name in available_isas()


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ConfigError(f"precision should be one of {PRECISIONS}, found {precision!r}")
    return precision


def matmul(layout: _core.CpuLayout, x: npt.ArrayLike, bias: npt.ArrayLike | None = None,
           activation: str | None = None, threads: int | None = None, isa: str | None = None,
           input_dtype: str | None = None, out_dtype: str | None = None,
           precision: str = "fp32") -> npt.NDArray:
    """``act(W @ x + bias)`` on a ``CpuLayout``; ``x`` is ``(cols,)`` or ``(batch, cols)``;
    ``precision`` "fp32", "bf16" or "int8" (module docstring)."""
    if (type(x) is np.ndarray and x.dtype is _F32 and input_dtype is None and out_dtype is None
            and (precision == "fp32" or precision == "int8")
            and (activation is None or activation == "relu")
            and (bias is None or (type(bias) is np.ndarray and bias.dtype is _F32))
            and (x.ndim == 1 or (x.ndim == 2 and 1 <= x.shape[0] <= MAX_BATCH))):
        # The common call, one binding call: float32 in, float32 out. Anything the core
        # refuses (shapes, a non-contiguous array) goes the general way, which says why.
        nthreads = check_threads(threads)
        isa_name = "" if isa is None and isa_check._resolved else check_isa(isa)
        try:
            return layout.mv_f32(x, bias, activation == "relu", nthreads, isa_name, precision)
        except (ValueError, TypeError):
            pass
    xa = np.asarray(x)
    if xa.ndim not in (1, 2) or xa.shape[-1] != layout.cols:
        raise EngineError(f"x should have shape ({layout.cols},) or (batch, {layout.cols}) for "
                          f"a {layout.rows}x{layout.cols} layer, found {xa.shape}")
    if activation not in ACTIVATIONS:
        raise EngineError(f"activation should be one of {ACTIVATIONS}, found {activation!r}")
    check_out_dtype(out_dtype)
    b = None
    if bias is not None:
        b = np.ascontiguousarray(bias, dtype=np.float32)
        if b.shape != (layout.rows,):
            raise EngineError(f"bias should have shape ({layout.rows},), found {b.shape}")
    nthreads = check_threads(threads)
    isa_name = check_isa(isa)
    check_precision(precision)
    xk, kind = as_kernel_input(xa, input_dtype)
    x2 = xk.reshape(1, -1) if xk.ndim == 1 else xk
    check_activations((x2.shape[0], layout.rows), f"the output of a {layout.rows}-row layer")
    out = np.empty((x2.shape[0], layout.rows), np.float32)
    relu = activation == "relu"
    try:
        for lo in range(0, x2.shape[0], MAX_BATCH):
            xs, ys = x2[lo:lo + MAX_BATCH], out[lo:lo + MAX_BATCH]
            if kind == "float32":
                layout.run_f32(xs, ys, b, relu, nthreads, isa_name, precision)
            else:
                layout.run_u16(xs, kind, ys, b, relu, nthreads, isa_name, precision)
    except ValueError as e:
        raise EngineError(str(e)) from None
    return finish_output(out[0] if xk.ndim == 1 else out, xa.dtype, input_dtype, out_dtype)


def gemv_f16(w: npt.NDArray, x: npt.NDArray, threads: int | None = None,
             isa: str | None = None) -> npt.NDArray[np.float32]:
    """``x @ w.T`` for a dense float16 weight ``w`` (rows, cols) (dtype float16, or its uint16
    bits) and float32 ``x`` (cols,) or (batch, cols): float32 products and sums, each row one
    dot product on one thread (results do not depend on ``threads``). Reads 2 bytes per weight:
    the kernel for layers kept in float16 (``eie.llm.engine_linear``'s ``dense_dtype``)."""
    wa = np.asarray(w)
    if wa.dtype == np.float16:
        wa = wa.view(np.uint16)
    if wa.dtype != np.uint16 or wa.ndim != 2:
        raise EngineError(f"w should be a 2-D float16 (or uint16 bits) array, found "
                          f"{wa.dtype} with shape {wa.shape}")
    xa = np.asarray(x, dtype=np.float32)
    if xa.ndim not in (1, 2) or xa.shape[-1] != wa.shape[1]:
        raise EngineError(f"x should have shape ({wa.shape[1]},) or (batch, {wa.shape[1]}) for "
                          f"a {wa.shape[0]}x{wa.shape[1]} weight, found {xa.shape}")
    x2 = np.ascontiguousarray(xa.reshape(1, -1) if xa.ndim == 1 else xa)
    check_activations((x2.shape[0], wa.shape[0]), f"the output of a {wa.shape[0]}-row layer")
    out = np.empty((x2.shape[0], wa.shape[0]), np.float32)
    isa_name = "" if isa is None and isa_check._resolved else check_isa(isa)
    try:
        _core.gemv_f16(np.ascontiguousarray(wa), x2, out, check_threads(threads), isa_name)
    except ValueError as e:
        raise EngineError(str(e)) from None
    return out[0] if xa.ndim == 1 else out


def check_out_dtype(out_dtype: str | None) -> None:
    if out_dtype not in (None, "float32", "input"):
        raise ConfigError(f"out_dtype should be None, 'float32' or 'input', found {out_dtype!r}")


def finish_output(y: npt.NDArray[np.float32], in_dtype: np.dtype, input_dtype: str | None,
                  out_dtype: str | None) -> npt.NDArray:
    """The kernels' float32 result in the dtype the caller asked for."""
    if out_dtype != "input" or in_dtype == np.float32:
        return y
    if input_dtype == "bfloat16":  # raw bits in, raw bits out
        return _to_bf16_bits(y)
    return y.astype(in_dtype)


def _to_bf16_bits(y: npt.NDArray[np.float32]) -> npt.NDArray[np.uint16]:
    """float32 -> bfloat16 bits (round to nearest even), as uint16."""
    bits = y.view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    nan = np.isnan(y)
    out = rounded.astype(np.uint16)
    out[nan] = 0x7FC0
    return out
