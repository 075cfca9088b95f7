"""The AVX-512 known-answer self-test: the comparison, the fallback and its warning.

The AVX-512 kernels cannot run here unless the CPU has AVX-512, so the mechanism is tested by
injecting kernel results: a runner that returns the real scalar result for the tested ISA passes,
one that corrupts it fails and triggers the fallback."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from eie.engine import available_isas, isa_check, isa_status
from eie.errors import ConfigError


@pytest.fixture
def fresh_state() -> Iterator[None]:
    isa_check.reset()
    yield
    isa_check.reset()


def scalar_runner(corrupt: str | None = None, how: str = "offset") -> isa_check.Runner:
    def run(lay: Any, x: npt.NDArray, kind: str, bias: npt.NDArray | None, relu: bool,
            isa: str) -> npt.NDArray:
        y = isa_check._default_runner(lay, x, kind, bias, relu, "scalar")
        if isa == corrupt and y.size:
            if how == "offset":
                y[-1, -1] += 1e-3 * (1 + abs(y[-1, -1]))
            elif how == "nan":
                y[0, 0] = np.nan
            else:
                y = y[:, :-1] if y.shape[1] > 1 else y[:0]
        return y
    return run


def test_real_kernels_pass_the_self_test() -> None:
    for isa in available_isas():
        assert isa_check.selftest(isa) == []


def test_injected_kernel_results() -> None:
    assert isa_check.selftest("avx512", scalar_runner()) == []
    for how in ("offset", "nan", "shape"):
        bad = isa_check.selftest("avx512", scalar_runner("avx512", how))
        assert bad, how
        assert all("codebook" in line and "batch" in line for line in bad)
    # every case (sparse and dense, batch 1 and 3, three input dtypes, with and without bias)
    bad = isa_check.selftest("avx512", scalar_runner("avx512"))
    text = "\n".join(bad)
    for word in ("sparse", "dense", "batch 1", "batch 3", "float32", "float16", "bfloat16"):
        assert word in text


def test_compare_tolerance() -> None:
    want = np.array([[1.0, 2.0, np.nan]], np.float32)
    scale = np.array([[1.0, 2.0, 1.0]])
    assert isa_check._compare(want.copy(), want, scale) == ""
    near = want + np.float32(2e-5)
    assert isa_check._compare(near, want, scale) == ""
    far = want + np.float32(1e-3)
    assert "output (0, 0)" in isa_check._compare(far, want, scale)


def test_failure_lowers_the_process_isa_and_warns(fresh_state: None,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A CPU that claims AVX-512 and a self-test whose "AVX-512" results are corrupted: the
    process runs AVX2, says why, and refuses a per-call isa="avx512"."""
    from eie.engine import kernels

    isa_check.apply_result("avx512", [])
    assert isa_status()["self_test"]["state"] == "passed"
    isa_check.reset()
    bad = isa_check.selftest("avx512", scalar_runner("avx512"))
    monkeypatch.setattr(isa_check, "selftest", lambda isa="avx512", runner=None: bad)
    monkeypatch.setattr(isa_check._core, "best_isa", lambda: "avx512")
    monkeypatch.setattr(isa_check._core, "set_active_isa", lambda name: None)
    with pytest.warns(RuntimeWarning, match="avx512 engine kernels failed.*uses avx2"):
        assert isa_check.engine_isa() == "avx2"
    status = isa_status()
    assert status["self_test"]["state"] == "failed"
    assert status["self_test"]["mismatches"] == bad
    assert status["isa"] == status["engine_isa"] == "avx2"
    assert "self-test failed" in status["reason"]
    with pytest.raises(ConfigError, match="self-test"):
        kernels.check_isa("avx512")


def test_ensure_checked_runs_once_and_records_a_crash(fresh_state: None,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def broken(isa: str = "avx512", runner: object = None) -> list[str]:
        calls.append(isa)
        raise MemoryError("boom")

    monkeypatch.setattr(isa_check, "selftest", broken)
    with pytest.warns(RuntimeWarning, match="self-test raised MemoryError"):
        isa_check.ensure_checked()
    isa_check.ensure_checked()
    assert calls == ["avx512"]
    assert isa_status()["self_test"]["state"] == "failed"
    assert isa_check.engine_isa() != "avx512"


def test_first_avx512_use_triggers_the_self_test(fresh_state: None,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The first call without isa= resolves the process ISA, running the self-test only when
    that would be AVX-512, once per process."""
    from eie.engine import kernels

    calls = []
    real_selftest = isa_check.selftest

    def fake_selftest(isa: str = "avx512", runner: object = None) -> list[str]:
        calls.append(isa)
        return real_selftest(isa, scalar_runner(isa))  # corrupted "AVX-512" results

    monkeypatch.setattr(isa_check, "selftest", fake_selftest)
    monkeypatch.setattr(isa_check._core, "best_isa", lambda: "avx2")
    assert kernels.check_isa(None) == ""
    assert calls == []  # an AVX2 CPU never runs it
    assert isa_status()["self_test"]["state"] == "not needed"
    isa_check.reset()
    monkeypatch.setattr(isa_check._core, "best_isa", lambda: "avx512")
    monkeypatch.setattr(isa_check._core, "set_active_isa", lambda name: None)
    with pytest.warns(RuntimeWarning, match="failed their known-answer self-test.*first: "
                      "sparse"):
        assert kernels.check_isa(None) == ""
    assert isa_status()["self_test"]["state"] == "failed"
    assert calls == ["avx512"]
    assert kernels.active_isa_name() == "avx2"
    kernels.check_isa(None)  # once per process
    assert calls == ["avx512"]
