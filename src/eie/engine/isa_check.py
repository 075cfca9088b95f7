"""The engine's ISA, resolved once per process, and the AVX-512 known-answer self-test.

One mechanism decides which kernels run: on first use, ``engine_isa()`` takes the best ISA the
CPU supports (CPUID), lowers it to ``EIE_ISA`` when that is set (``scalar``, ``avx2`` or
``avx512``; anything else is a ``ConfigError``), and, when the result is AVX-512, runs the
self-test below; it then sets the core's process ISA (``_core.set_active_isa``), which every
call that names no ISA runs. ``isa_status()`` reports the outcome and why. Per-call ``isa=``
arguments override it for one call, checked by ``check_override`` against what this CPU runs
(and against a failed self-test); ``eie.engine.use_isa`` changes it for a block (tests).

The self-test: the AVX-512 kernels are the default on CPUs that have AVX-512, and they cannot be
exercised on machines without it. So a few small fixed layouts (sparse and dense, odd sizes,
empty columns, batch 1 and 3, float32 / float16 / bfloat16 inputs, biases and ReLU) are multiplied
with the AVX-512 and the scalar kernels and compared with the tolerance the test suite uses
(``FLOAT_TOL``, relative to ``|W| @ |x| + |b|``). On a mismatch the process runs AVX2 and a
``RuntimeWarning`` says so.

>>> sorted(isa_status())
['active_isa', 'best_isa', 'engine_isa', 'env', 'isa', 'reason', 'self_test']
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from eie import _core
from eie.errors import ConfigError

FLOAT_TOL = 2e-5
"""Per output: |y_isa - y_scalar| <= 2 * FLOAT_TOL * (|W| @ |x| + |b|) + 1e-30 (each side is
within FLOAT_TOL of the exact product; ``tests/engine/engine_cases.FLOAT_TOL``)."""

ISA_ORDER = ("scalar", "avx2", "avx512")

Runner = Callable[[Any, npt.NDArray, str, npt.NDArray | None, bool, str], npt.NDArray]
"""(layout, x (batch, cols) float32 or uint16 bits, input kind, bias, relu, isa) -> y."""

_lock = threading.RLock()
_result: dict[str, Any] = {"state": "not run", "mismatches": []}
_resolved: dict[str, str] = {}
"""After the first ``engine_isa()``: ``isa`` (the process ISA) and ``reason``."""


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


def _env_isa() -> str | None:
    env = _core.getenv("EIE_ISA")
    if env is not None and env not in ISA_ORDER:
        raise ConfigError(f"EIE_ISA should be one of {ISA_ORDER}, found {env!r}")
    return env


def engine_isa() -> str:
    """The process ISA (resolved on first call: CPU support, ``EIE_ISA``, the self-test)."""
    isa = _resolved.get("isa")
    return isa if isa is not None else _resolve()


def _resolve() -> str:
    with _lock:
        if "isa" in _resolved:
            return _resolved["isa"]
        from eie.engine import tuning

        tuning.apply()  # the constants reach the core before anything is built or run
        best = _core.best_isa()
        env = _env_isa()
        isa, why = best, f"the best ISA this CPU supports is {best}"
        if env is not None:
            if ISA_ORDER.index(env) < ISA_ORDER.index(best):
                isa, why = env, f"EIE_ISA={env} lowers this CPU's best ({best})"
            else:
                why += f" (EIE_ISA={env} allows it)"
        if isa == "avx512":
            ensure_checked()
            if _result["state"] == "failed":
                isa, why = "avx2", why + "; the AVX-512 self-test failed, so avx2"
            else:
                why += "; the AVX-512 self-test passed"
        _core.set_active_isa(isa)
        _resolved.update(isa=isa, reason=why)
        return isa


def check_override(isa: str) -> str:
    """``isa`` for one call, after checking that this CPU runs it (and, for AVX-512, that its
    self-test passed in this process)."""
    if isa not in ISA_ORDER:
        raise ConfigError(f"isa should be one of {ISA_ORDER}, found {isa!r}")
    best = _core.best_isa()
    if ISA_ORDER.index(isa) > ISA_ORDER.index(best):
        raise ConfigError(f"this CPU does not support isa {isa!r}; it supports "
                          f"{list(ISA_ORDER[:ISA_ORDER.index(best) + 1])}")
    if isa == "avx512":
        ensure_checked()
        if _result["state"] == "failed":
            raise ConfigError("isa 'avx512' is refused in this process: its kernels failed the "
                              "known-answer self-test (eie.engine.isa_status() has the cases)")
    return isa


def set_process_isa(isa: str) -> dict[str, str]:
    """Make ``isa`` (checked as ``check_override``) the process ISA; returns the state before,
    for ``restore_process_isa``. ``eie.engine.use_isa`` is the documented way to use it."""
    check_override(isa)
    _resolve()
    with _lock:
        before = dict(_resolved)
        _core.set_active_isa(isa)
        _resolved.update(isa=isa, reason=f"set by use_isa({isa!r})")
        return before


def restore_process_isa(state: dict[str, str]) -> None:
    with _lock:
        _core.set_active_isa(state["isa"])
        _resolved.update(state)


def apply_result(isa: str, mismatches: list[str]) -> None:
    """Record a self-test outcome; on mismatches, move the process to the ISA below ``isa`` (if
    it was running ``isa``) and warn."""
    if not mismatches:
        _result.update(state="passed", mismatches=[])
        return
    fallback = ISA_ORDER[max(ISA_ORDER.index(isa) - 1, 0)]
    _result.update(state="failed", mismatches=list(mismatches))
    if _resolved.get("isa") == isa:
        _core.set_active_isa(fallback)
        _resolved.update(isa=fallback, reason=f"the {isa} self-test failed, so {fallback}")
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
    """Forget the self-test's outcome and the resolution (for tests): the next call resolves
    again, reading ``EIE_ISA`` anew."""
    with _lock:
        _result.update(state="not run", mismatches=[])
        _resolved.clear()
        env = _core.getenv("EIE_ISA")
        best = _core.best_isa()
        _core.set_active_isa(env if env in ISA_ORDER[:ISA_ORDER.index(best)] else best)


def isa_status() -> dict[str, Any]:
    """The ISA calls without ``isa=`` run (``isa``; resolving it if no call has yet) and
    ``reason``, why; ``best_isa`` (what the CPU runs), ``env`` (``EIE_ISA`` or None),
    ``self_test``: ``{"state": "not run" | "not needed" | "passed" | "failed", "mismatches":
    [...]}``. ``active_isa`` and ``engine_isa`` repeat ``isa`` (the names earlier versions
    reported)."""
    isa = engine_isa()
    state = _result["state"]
    if state == "not run" and _core.best_isa() != "avx512":
        state = "not needed"
    return {"isa": isa, "reason": _resolved.get("reason", ""), "best_isa": _core.best_isa(),
            "env": _core.getenv("EIE_ISA"), "active_isa": isa, "engine_isa": isa,
            "self_test": {"state": state, "mismatches": list(_result["mismatches"])}}
