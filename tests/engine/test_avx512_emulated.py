"""The AVX-512 kernels on a CPU without AVX-512: compiled against SIMDe (portable implementations
of the intrinsics, ``simde-py``) through a test-only ``immintrin.h`` (``avx512_emulation/shim``),
linked with the engine's own driver, scalar and AVX2 kernels into a C++ harness
(``avx512_emulation/harness.cpp``) built with AddressSanitizer and UBSan, and run on a grid of
cases (odd sizes, empty columns, every batch size class, 4- and 8-bit codebooks, bf16 inputs,
1 and 2 threads, row and column splits, the row view forced on and off, same-code runs, an
infinite activation): every back-end
within FLOAT_TOL of a double-precision product, the int8 kernel (``precision="int8"``, called
directly on every rowwise case) within its int8 error bound, and no out-of-bounds access.

Where the CPU has AVX-512, ``test_kernels.py`` also runs those kernels natively."""

from __future__ import annotations

from pathlib import Path

import pytest
from emulation_build import AVX2, CSRC, build_harness, run_harness

HERE = Path(__file__).resolve().parent / "avx512_emulation"
CASES = 2257  # (583 cases + 127 rowwise ones) x (scalar, AVX2, AVX-512) + 127 int8 ones


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_harness({
        "cpu_features": (CSRC / "common" / "cpu_features.cpp", []),
        "layout": (CSRC / "engine" / "layout.cpp", []),
        "tuning": (CSRC / "engine" / "tuning.cpp", []),
        "encode": (CSRC / "format" / "encode.cpp", []),
        "decode": (CSRC / "format" / "decode.cpp", []),
        "max_u8_avx2": (CSRC / "format" / "max_u8_avx2.cpp", AVX2),
        # linked for decode.cpp's dispatch, never called by the harness
        "max_u8_avx512": (CSRC / "format" / "max_u8_avx512.cpp",
                          ["-mavx512f", "-mavx512bw", "-mavx512vl", *AVX2]),
        "thread_pool": (CSRC / "engine" / "thread_pool.cpp", []),
        "kernels_scalar": (CSRC / "engine" / "kernels_scalar.cpp", []),
        # EIE_PLAIN_RMW: the C++ form of the AVX2 scatter, whose accesses ASan can see (the
        # inline-asm form is checked for values by the shared kernel suite)
        "kernels_avx2": (CSRC / "engine" / "kernels_avx2.cpp", ["-DEIE_PLAIN_RMW", *AVX2]),
        # "avx512": the shim directory first, so this unit sees the SIMDe immintrin.h
        "kernels_avx512": (CSRC / "engine" / "kernels_avx512.cpp", ["avx512"]),
        # linked for layout.cpp's dispatch; the harness never reaches it (no bf16 batches)
        "kernels_amx": (CSRC / "engine" / "kernels_amx.cpp",
                        ["-mamx-tile", "-mamx-bf16", "-mavx512f", "-mavx512bw", "-mavx512vl",
                         "-mavx512dq", "-mavx512bf16", *AVX2]),
        # the int8 kernel, emulated as the AVX-512 ones (the harness calls it directly)
        "kernels_vnni": (CSRC / "engine" / "kernels_vnni.cpp", ["avx512"]),
        # linked for layout.cpp's dispatch of int8 on AVX2 (run natively by the int8 suite)
        "int8_avx2": (CSRC / "engine" / "int8_avx2.cpp", AVX2),
        # linked for layout.cpp's dispatch of colrow layouts (test_colrow_emulated.py runs them)
        "colrow": (CSRC / "engine" / "colrow.cpp", []),
        "colrow_scalar": (CSRC / "engine" / "colrow_scalar.cpp", []),
        "colrow_sparse": (CSRC / "engine" / "colrow_sparse.cpp", []),
        "colrow_sparse_avx2": (CSRC / "engine" / "colrow_sparse_avx2.cpp", AVX2),
        "colrow_avx2": (CSRC / "engine" / "colrow_avx2.cpp", AVX2),
        "colrow_avx512": (CSRC / "engine" / "colrow_avx512.cpp", ["avx512"]),
        "harness": (HERE / "harness.cpp", []),
    }, tmp_path_factory.mktemp("avx512_emulation"))


def test_every_backend_on_the_grid_under_sanitizers(harness: Path) -> None:
    run_harness(harness, CASES)
