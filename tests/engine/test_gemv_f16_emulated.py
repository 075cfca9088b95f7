"""The float16 GEMV's AVX-512 unit on a CPU without AVX-512: compiled against SIMDe through the
test-only ``immintrin.h`` (``avx512_emulation/shim``), linked with the scalar and AVX2 units into
``avx512_emulation/gemv_f16_harness.cpp`` under AddressSanitizer and UBSan: every unit within the
float32 accumulation bound of a double-precision product, partial row ranges, and no access past
the weight or the inputs. Where the CPU has AVX-512, ``test_gemv_f16.py`` runs it natively."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CSRC = ROOT / "csrc"
HERE = Path(__file__).resolve().parent / "avx512_emulation"
CASES = 162  # 9 shapes x 3 batches x 3 units x 2 row ranges
FLAGS = ["-std=c++17", "-O1", "-g", "-fsanitize=address,undefined", "-fno-omit-frame-pointer",
         "-fno-sanitize-recover=undefined", f"-I{CSRC}"]
AVX2 = ["-mavx2", "-mfma", "-mf16c", "-mbmi", "-mbmi2"]


@pytest.mark.slow
def test_gemv_f16_units_under_sanitizers(tmp_path: Path) -> None:
    simde_py = pytest.importorskip("simde_py")
    cxx = os.environ.get("CXX", "g++")
    units = {
        "cpu_features": (CSRC / "common" / "cpu_features.cpp", []),
        "thread_pool": (CSRC / "engine" / "thread_pool.cpp", []),
        "gemv_f16": (CSRC / "engine" / "gemv_f16.cpp", []),
        "gemv_f16_avx2": (CSRC / "engine" / "gemv_f16_avx2.cpp", AVX2),
        "gemv_f16_avx512": (CSRC / "engine" / "gemv_f16_avx512.cpp",
                            [f"-I{HERE / 'shim'}", f"-I{simde_py.get_include()}", *AVX2]),
        "harness": (HERE / "gemv_f16_harness.cpp", []),
    }
    for name, (src, extra) in units.items():
        r = subprocess.run([cxx, *FLAGS, *extra, "-c", str(src), "-o", str(tmp_path / f"{name}.o")],
                           capture_output=True, text=True)
        assert r.returncode == 0, f"compiling {name} failed:\n{(r.stdout + r.stderr)[-4000:]}"
    exe = tmp_path / "harness"
    link = subprocess.run([cxx, "-fsanitize=address,undefined", "-pthread",
                           *(str(tmp_path / f"{n}.o") for n in units), "-o", str(exe)],
                          capture_output=True, text=True)
    assert link.returncode == 0, link.stdout + link.stderr
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0",
               UBSAN_OPTIONS="print_stacktrace=1")
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=300, env=env)
    report = (run.stdout + run.stderr)[-6000:]
    assert run.returncode == 0, report
    assert f"cases {CASES} failures 0" in run.stdout, report
