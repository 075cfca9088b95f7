"""Known-answer self-test of the AVX-512 engine kernels, run once per process before first use.

The AVX-512 kernels are the default on CPUs that have AVX-512, and they cannot be exercised on
machines without it. So the first time a process would run them (``kernels.check_isa`` resolving
to ``"avx512"``), a few small fixed layouts (sparse and dense, odd sizes, empty columns, batch 1
and 3, float32 / float16 / bfloat16 inputs, biases and ReLU) are multiplied with the AVX-512 and
the scalar kernels and compared with the tolerance the test suite uses (``FLOAT_TOL``, relative
to ``|W| @ |x| + |b|``). On a mismatch the engine is limited to AVX2 in this process
(``_core.set_engine_isa_cap``) and a ``RuntimeWarning`` says so. ``isa_status()`` reports it.

>>> sorted(isa_status())
['active_isa', 'best_isa', 'engine_isa', 'self_test']
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from eie import _core

FLOAT_TOL = 2e-5
"""Per output: |y_isa - y_scalar| <= 2 * FLOAT_TOL * (|W| @ |x| + |b|) + 1e-30 (each side is
within FLOAT_TOL of the exact product; ``tests/engine/engine_cases.FLOAT_TOL``)."""

ISA_ORDER = ("scalar", "avx2", "avx512")

Runner = Callable[[Any, npt.NDArray, str, npt.NDArray | None, bool, str], npt.NDArray]
"""(layout, x (batch, cols) float32 or uint16 bits, input kind, bias, relu, isa) -> y."""

_lock = threading.RLock()
_result: dict[str, Any] = {"state": "not run", "mismatches": []}


def _cases() -> list[tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32], str]]:
    """(codes, codebook, layout kind): fixed, seeded, small."""
    rng = np.random.default_rng(20160618)
    cases = []
    for rows, cols, density, kind in ((1, 1, 1.0, "sparse"), (17, 33, 0.3, "sparse"),
                                      (45, 31, 0.5, "dense"), (70, 19, 0.2, "sparse"),
                                      (33, 40, 0.9, "dense"), (3, 5, 0.0, "dense")):
        for entries in (16, 256):
            cb = np.concatenate(([0.0], rng.uniform(-1, 1, entries - 1))).astype(np.float32)
            codes = np.where(rng.random((rows, cols)) < density,
                             rng.integers(1, entries, (rows, cols)), 0).astype(np.uint8)
            if cols > 4:
                codes[:, 2] = 0  # an empty column
            cases.append((codes, cb, kind))
    return cases


def _default_runner(lay: Any, x: npt.NDArray, kind: str, bias: npt.NDArray | None, relu: bool,
                    isa: str) -> npt.NDArray:
    out = np.empty((x.shape[0], lay.rows), np.float32)
    if kind == "float32":
        lay.run_f32(x, out, bias, relu, 1, isa)
    else:
        lay.run_u16(x, kind, out, bias, relu, 1, isa)
    return out


def _as_f64(x: npt.NDArray, kind: str) -> npt.NDArray[np.float64]:
    if kind == "float32":
        return x.astype(np.float64)
    if kind == "float16":
        return x.view(np.float16).astype(np.float64)
    return (x.astype(np.uint32) << 16).view(np.float32).astype(np.float64)


def selftest(isa: str = "avx512", runner: Runner | None = None) -> list[str]:
    """Compare ``isa``'s kernels with the scalar ones on the fixed cases; the mismatches, as
    readable lines (empty: passed). ``runner`` replaces the kernel call (tests inject faults)."""
    run = runner or _default_runner
    rng = np.random.default_rng(7)
    mismatches: list[str] = []
    for codes, cb, layout_kind in _cases():
        if len(cb) > _max_codebook():
            continue
        lay = _core.build_cpu_layout(codes, cb, layout_kind, 1)
        w = np.abs(cb.astype(np.float64)[codes])
        rows, cols = codes.shape
        bias = np.asarray(rng.uniform(-1, 1, rows), np.float32)
        for batch in (1, 3):
            xf = np.where(rng.random((batch, cols)) < 0.6,
                          rng.standard_normal((batch, cols)), 0).astype(np.float32)
            for kind in ("float32", "float16", "bfloat16"):
                if kind == "float32":
                    x: npt.NDArray = xf
                elif kind == "float16":
                    x = xf.astype(np.float16).view(np.uint16)
                else:
                    x = (xf.view(np.uint32) >> 16).astype(np.uint16)
                for b, relu in ((None, False), (bias, True)):
                    want = run(lay, x, kind, b, relu, "scalar")
                    got = run(lay, x, kind, b, relu, isa)
                    scale = np.abs(_as_f64(x, kind)) @ w.T
                    if b is not None:
                        scale = scale + np.abs(np.asarray(b, np.float64))
                    bad = _compare(np.asarray(got), np.asarray(want), scale)
                    if bad:
                        mismatches.append(f"{layout_kind} {rows}x{cols}, {len(cb)}-entry codebook, "
                                          f"batch {batch}, {kind}, bias+relu={relu}: {bad}")
    return mismatches


def _compare(got: npt.NDArray, want: npt.NDArray, scale: npt.NDArray) -> str:
    """'' when ``got`` matches ``want`` within the tolerance, else what differs."""
    if got.shape != want.shape:
        return f"shape {got.shape} != {want.shape}"
    g, w = got.astype(np.float64), want.astype(np.float64)
    same_nan = np.isnan(g) == np.isnan(w)
    err = np.where(np.isnan(g) | np.isnan(w), np.where(same_nan, 0.0, np.inf), np.abs(g - w))
    bound = 2 * FLOAT_TOL * scale + 1e-30
    if np.all(err <= bound):
        return ""
    i = np.unravel_index(np.argmax(err - bound), err.shape)
    return f"output {tuple(int(v) for v in i)}: {g[i]!r} vs scalar {w[i]!r}"


def _max_codebook() -> int:
    from eie.engine.layout import MAX_CODEBOOK

    return MAX_CODEBOOK


def apply_result(isa: str, mismatches: list[str]) -> None:
    """Record a self-test outcome; on mismatches, limit the engine to the ISA below ``isa`` and
    warn."""
    if not mismatches:
        _result.update(state="passed", mismatches=[])
        return
    fallback = ISA_ORDER[max(ISA_ORDER.index(isa) - 1, 0)]
    _core.set_engine_isa_cap(fallback)
    _result.update(state="failed", mismatches=list(mismatches))
    warnings.warn(
        f"eie: the {isa} engine kernels failed their known-answer self-test against the scalar "
        f"kernels on this CPU ({len(mismatches)} mismatching case(s); first: {mismatches[0]}). "
        f"The engine uses {fallback} in this process; eie.engine.isa_status() has the details.",
        RuntimeWarning, stacklevel=3)


def ensure_checked(isa: str = "avx512") -> None:
    """Run the self-test once per process (thread-safe), before the first AVX-512 multiply."""
    if _result["state"] in ("passed", "failed"):
        return
    with _lock:  # other threads wait for the outcome
        if _result["state"] != "not run":
            return
        _result["state"] = "running"
        try:
            mismatches = selftest(isa)
        except Exception as e:  # a crash in the comparison itself counts as a failure
            mismatches = [f"self-test raised {type(e).__name__}: {e}"]
        apply_result(isa, mismatches)


def reset() -> None:
    """Forget the outcome and lift the engine's ISA limit (for tests)."""
    with _lock:
        _result.update(state="not run", mismatches=[])
        _core.set_engine_isa_cap("avx512")


def isa_status() -> dict[str, Any]:
    """``best_isa`` (what the CPU runs), ``active_isa`` (the kernels' default after EIE_ISA /
    ``use_isa``), ``engine_isa`` (what engine multiplies use by default, after the self-test's
    limit) and ``self_test``: ``{"state": "not run" | "not needed" | "passed" | "failed",
    "mismatches": [...]}`` (AVX-512 is self-tested before its first use)."""
    best, active = _core.best_isa(), _core.active_isa()
    cap = _core.engine_isa_cap()
    engine = ISA_ORDER[min(ISA_ORDER.index(active), ISA_ORDER.index(cap))]
    state = _result["state"]
    if state == "not run" and best != "avx512":
        state = "not needed"
    return {"best_isa": best, "active_isa": active, "engine_isa": engine,
            "self_test": {"state": state, "mismatches": list(_result["mismatches"])}}
