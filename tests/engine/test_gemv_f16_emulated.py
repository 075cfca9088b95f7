"""The float16 GEMV's AVX-512 unit on a CPU without AVX-512: compiled against SIMDe through the
test-only ``immintrin.h`` (``avx512_emulation/shim``), linked with the scalar and AVX2 units into
``avx512_emulation/gemv_f16_harness.cpp`` under AddressSanitizer and UBSan: every unit within the
float32 accumulation bound of a double-precision product, partial row ranges, and no access past
the weight or the inputs. Where the CPU has AVX-512, ``test_gemv_f16.py`` runs it natively."""

from __future__ import annotations

from pathlib import Path

import pytest
from emulation_build import AVX2, CSRC, build_harness, run_harness

HERE = Path(__file__).resolve().parent / "avx512_emulation"
CASES = 162  # 9 shapes x 3 batches x 3 units x 2 row ranges


@pytest.mark.slow
def test_gemv_f16_units_under_sanitizers(tmp_path: Path) -> None:
    exe = build_harness({
        "cpu_features": (CSRC / "common" / "cpu_features.cpp", []),
        "thread_pool": (CSRC / "engine" / "thread_pool.cpp", []),
        "gemv_f16": (CSRC / "engine" / "gemv_f16.cpp", []),
        "gemv_f16_avx2": (CSRC / "engine" / "gemv_f16_avx2.cpp", AVX2),
        "gemv_f16_avx512": (CSRC / "engine" / "gemv_f16_avx512.cpp", ["avx512"]),
        "harness": (HERE / "gemv_f16_harness.cpp", []),
    }, tmp_path)
    run_harness(exe, CASES, timeout=300)
