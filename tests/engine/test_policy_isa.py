"""One ISA-selection mechanism: resolved once per process (CPU support, EIE_ISA, the AVX-512
self-test), reported with its reason, overridden per call (validated), set for a block by
use_isa, the core's one setter."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from eie import _core
from eie.engine import available_isas, isa_check, isa_status, kernels, spmv, use_isa
from eie.errors import ConfigError
from eie.formats import EIEMatrix

STATUS = (
    "import json\n"
    "import numpy as np\n"
    "from eie import _core\n"
    "from eie.engine import isa_status, spmv\n"
    "from eie.formats import EIEMatrix\n"
    "m = EIEMatrix.from_codes([[1, 0], [0, 2]], np.array([0, .5, -1], np.float32), 2)\n"
    "before = _core.active_isa()\n"
    "y = spmv(m, np.array([2.0, 1.0], np.float32))\n"
    "print(json.dumps({'before': before, 'core': _core.active_isa(), 'y': y.tolist(),\n"
    "                  **isa_status()}))\n"
)


def fresh(env_isa: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "EIE_ISA"}
    if env_isa is not None:
        env["EIE_ISA"] = env_isa
    return subprocess.run([sys.executable, "-c", STATUS], capture_output=True, text=True,
                          env=env, timeout=120)


def matrix() -> EIEMatrix:
    rng = np.random.default_rng(3)
    codes = np.where(rng.random((70, 50)) < 0.3, rng.integers(1, 16, (70, 50)), 0)
    cb = np.r_[0, np.linspace(-1, 1, 15)].astype(np.float32)
    return EIEMatrix.from_codes(codes.astype(np.uint8), cb, num_pes=4)


def test_resolved_once_and_reported() -> None:
    isa = isa_check.engine_isa()
    status = isa_status()
    assert status["isa"] == isa == kernels.active_isa_name() == _core.active_isa()
    assert status["best_isa"] == available_isas()[-1]
    assert available_isas().index(isa) <= available_isas().index(status["best_isa"])
    assert status["reason"] and status["best_isa"] in status["reason"]
    assert kernels.check_isa(None) == ""  # calls without isa= run the process ISA


@pytest.mark.parametrize("env_isa", [None, *available_isas()])
def test_a_fresh_process_resolves_cpu_and_eie_isa(env_isa: str | None) -> None:
    out = fresh(env_isa)
    assert out.returncode == 0, out.stderr
    st = json.loads(out.stdout)
    want = env_isa or available_isas()[-1]
    assert st["isa"] == st["core"] == want
    assert st["before"] == want  # the core's first value: CPU and EIE_ISA, as resolved
    assert st["y"] == [1.0, -1.0]
    if env_isa is not None and env_isa != st["best_isa"]:
        assert f"EIE_ISA={env_isa}" in st["reason"]
    if want == "avx512":
        assert st["self_test"]["state"] == "passed" and "self-test passed" in st["reason"]


def test_eie_isa_above_the_cpu_is_a_limit_not_an_error() -> None:
    if available_isas()[-1] == "avx512":
        pytest.skip("this CPU runs every ISA")
    st = json.loads(fresh("avx512").stdout)
    assert st["isa"] == available_isas()[-1] and "allows it" in st["reason"]


def test_a_bad_eie_isa_is_one_typed_line() -> None:
    out = fresh("sse9")
    assert out.returncode != 0
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("eie.errors.ConfigError: EIE_ISA should be one of")
    assert "'sse9'" in last


def test_per_call_override_is_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    m = matrix()
    x = np.linspace(-1, 1, 50).astype(np.float32)
    with pytest.raises(ConfigError, match="isa should be one of"):
        spmv(m, x, isa="neon")
    for isa in available_isas():
        assert kernels.check_isa(isa) == isa
    monkeypatch.setattr(isa_check._core, "best_isa", lambda: "scalar")
    with pytest.raises(ConfigError, match="does not support isa 'avx2'.*'scalar'"):
        spmv(m, x, isa="avx2")


def test_override_runs_that_isa() -> None:
    """isa= and use_isa run the same kernels (bit-identical), whatever the process ISA."""
    m = matrix()
    x = np.linspace(-1, 1, 3 * 50).astype(np.float32).reshape(3, 50)
    for isa in available_isas():
        with use_isa(isa):
            forced = spmv(m, x, threads=1)
        np.testing.assert_array_equal(spmv(m, x, threads=1, isa=isa), forced)


def test_use_isa_sets_restores_and_refuses() -> None:
    before = isa_status()
    with use_isa("scalar"):
        st = isa_status()
        assert st["isa"] == _core.active_isa() == kernels.active_isa_name() == "scalar"
        assert "use_isa" in st["reason"]
    assert isa_status() == before and _core.active_isa() == before["isa"]
    with pytest.raises(RuntimeError), use_isa("scalar"):
        raise RuntimeError("boom")
    assert isa_status() == before
    with pytest.raises(ConfigError, match="isa should be one of"), use_isa("neon"):
        pass
    assert isa_status() == before


def test_the_redundant_setters_are_gone() -> None:
    assert not hasattr(_core, "engine_isa_cap") and not hasattr(_core, "set_engine_isa_cap")
    with pytest.raises(ValueError, match="unknown ISA"):
        _core.set_active_isa("neon")
