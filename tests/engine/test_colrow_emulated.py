"""The colrow kernels on every ISA, the AVX-512 one through SIMDe where the CPU lacks AVX-512:
``colrow_emulation/harness.cpp`` links the colrow driver with the scalar, AVX2 and emulated
AVX-512 kernels under AddressSanitizer and UBSan and checks every output of a grid (ragged
shapes, batches 1..9 and 16, sparse and dense inputs, per-row / per-group / shared codebooks, 1 and 2
threads) against a double-precision product within FLOAT_TOL; an out-of-bounds access fails the
run too."""

from __future__ import annotations

from pathlib import Path

import pytest
from emulation_build import AVX2, CSRC, build_harness, run_harness

HERE = Path(__file__).resolve().parent
CASES = 9 * 4 * 10 * 3 * 3 * 2  # shapes x groupings x batches x densities x ISAs x threads


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_harness({
        "thread_pool": (CSRC / "engine" / "thread_pool.cpp", []),
        "colrow": (CSRC / "engine" / "colrow.cpp", []),
        "colrow_scalar": (CSRC / "engine" / "colrow_scalar.cpp", []),
        "colrow_avx2": (CSRC / "engine" / "colrow_avx2.cpp", AVX2),
        "colrow_avx512": (CSRC / "engine" / "colrow_avx512.cpp", ["avx512"]),
        "harness": (HERE / "colrow_emulation" / "harness.cpp", []),
    }, tmp_path_factory.mktemp("colrow_emulation"))


def test_colrow_kernels_on_the_grid_under_sanitizers(harness: Path) -> None:
    run_harness(harness, CASES)
