"""The colrow kernels on every ISA, the AVX-512 one through SIMDe where the CPU lacks AVX-512:
``colrow_emulation/harness.cpp`` links the colrow driver with the scalar, AVX2 and emulated
AVX-512 kernels under AddressSanitizer and UBSan and checks every output of a grid (ragged
shapes, batches 1..9 and 16, sparse and dense inputs, per-row / per-group / shared codebooks, 1 and 2
threads) against a double-precision product within FLOAT_TOL; an out-of-bounds access fails the
run too."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CSRC = ROOT / "csrc"
HERE = Path(__file__).resolve().parent
CASES = 9 * 4 * 10 * 3 * 3 * 2  # shapes x groupings x batches x densities x ISAs x threads
FLAGS = ["-std=c++17", "-O1", "-g", "-fsanitize=address,undefined", "-fno-omit-frame-pointer",
         "-fno-sanitize-recover=undefined", f"-I{CSRC}"]
AVX2 = ["-mavx2", "-mfma", "-mf16c", "-mbmi", "-mbmi2"]


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import simde_py

    cxx = os.environ.get("CXX", "g++")
    out = tmp_path_factory.mktemp("colrow_emulation")
    units = {
        "thread_pool": (CSRC / "engine" / "thread_pool.cpp", []),
        "colrow": (CSRC / "engine" / "colrow.cpp", []),
        "colrow_scalar": (CSRC / "engine" / "colrow_scalar.cpp", []),
        "colrow_avx2": (CSRC / "engine" / "colrow_avx2.cpp", AVX2),
        "colrow_avx512": (CSRC / "engine" / "colrow_avx512.cpp",
                          [f"-I{HERE / 'avx512_emulation' / 'shim'}",
                           f"-I{simde_py.get_include()}", *AVX2]),
        "harness": (HERE / "colrow_emulation" / "harness.cpp", []),
    }
    procs = [(name, subprocess.Popen([cxx, *FLAGS, *extra, "-c", str(src), "-o",
                                      str(out / f"{name}.o")],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
             for name, (src, extra) in units.items()]
    for name, p in procs:
        log, _ = p.communicate()
        assert p.returncode == 0, f"compiling {name} failed:\n{log[-4000:]}"
    exe = out / "harness"
    link = subprocess.run([cxx, "-fsanitize=address,undefined", "-pthread",
                           *(str(out / f"{n}.o") for n in units), "-o", str(exe)],
                          capture_output=True, text=True)
    assert link.returncode == 0, link.stdout + link.stderr
    return exe


def test_colrow_kernels_on_the_grid_under_sanitizers(harness: Path) -> None:
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0",
               UBSAN_OPTIONS="print_stacktrace=1")
    run = subprocess.run([str(harness)], capture_output=True, text=True, timeout=600, env=env)
    report = (run.stdout + run.stderr)[-6000:]
    assert run.returncode == 0, report
    assert f"cases {CASES} failures 0" in run.stdout, report
