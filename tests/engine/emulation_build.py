"""Building and running the engine's sanitized test harnesses: the AVX-512 units compiled
against SIMDe (the test-only ``immintrin.h`` in ``avx512_emulation/shim``) beside the scalar
and AVX2 units, under AddressSanitizer and UBSan (test_avx512_emulated, test_colrow_emulated, test_gemv_f16_emulated)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

CSRC = Path(__file__).resolve().parents[2] / "csrc"
SHIM = Path(__file__).resolve().parent / "avx512_emulation" / "shim"
FLAGS = ["-std=c++17", "-O1", "-g", "-fsanitize=address,undefined", "-fno-omit-frame-pointer",
         "-fno-sanitize-recover=undefined", f"-I{CSRC}"]
AVX2 = ["-mavx2", "-mfma", "-mf16c", "-mbmi", "-mbmi2"]

Units = dict[str, tuple[Path, list[str]]]


def build_harness(units: Units, out: Path) -> Path:
    """Compile each unit ``name: (source, extra flags)`` under the sanitizers in parallel (the
    flag ``"avx512"``: through SIMDe), link them into ``out / "harness"`` and return its path."""
    import simde_py  # a test dependency of the project (pyproject's test extra)
    emulate = [f"-I{SHIM}", f"-I{simde_py.get_include()}", *AVX2]
    cxx = os.environ.get("CXX", "g++")
    procs = []
    for name, (src, extra) in units.items():
        flags = [f for e in extra for f in (emulate if e == "avx512" else [e])]
        procs.append((name, subprocess.Popen(
            [cxx, *FLAGS, *flags, "-c", str(src), "-o", str(out / f"{name}.o")],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)))
    for name, p in procs:
        log, _ = p.communicate()
        assert p.returncode == 0, f"compiling {name} failed:\n{log[-4000:]}"
    exe = out / "harness"
    link = subprocess.run([cxx, "-fsanitize=address,undefined", "-pthread",
                           *(str(out / f"{n}.o") for n in units), "-o", str(exe)],
                          capture_output=True, text=True)
    assert link.returncode == 0, link.stdout + link.stderr
    return exe


def run_harness(exe: Path, cases: int, timeout: int = 600) -> None:
    """Run a sanitized harness: exit 0 and its ``cases N failures 0`` line."""
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0",
               UBSAN_OPTIONS="print_stacktrace=1")
    env.pop("EIE_ISA", None)  # the harnesses run every unit whatever the process's ISA setting
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=timeout, env=env)
    report = (run.stdout + run.stderr)[-6000:]
    assert run.returncode == 0, report
    assert f"cases {cases} failures 0" in run.stdout, report
