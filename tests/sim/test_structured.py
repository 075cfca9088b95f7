"""Structured sparsity patterns at equal density, and the block-CSC storage model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from eie.errors import ConfigError
from eie.formats import EIEMatrix
from eie.report.sim_studies import plot_structured
from eie.sim.structured import BLOCK, PATTERNS, M, block_csc_bits, prune, study


@pytest.mark.parametrize("pattern", PATTERNS)
def test_patterns_keep_equal_density(pattern: str) -> None:
    w = np.random.default_rng(0).normal(size=(128, 64))
    mask = prune(w, 0.25, pattern, num_pes=8)
    assert mask.sum() == 0.25 * 128 * 64
    if pattern == "n:m":
        assert np.all(mask.reshape(128, 64 // M, M).sum(axis=2) == 2)
    if pattern == "block":  # 4 local rows of one PE (global stride 8) in one column
        g = mask.reshape(128 // (8 * BLOCK), BLOCK, 8, 64)
        assert np.all(g.all(axis=1) == g.any(axis=1))
    if pattern == "balanced":
        assert len({int(mask[k::8].sum()) for k in range(8)}) == 1
    if pattern == "unstructured":  # the largest magnitudes
        assert np.abs(w[mask]).min() >= np.abs(w[~mask]).max()


def test_bad_pattern_and_shapes() -> None:
    w = np.ones((10, 10))
    with pytest.raises(ConfigError, match="pattern should be one of"):
        prune(w, 0.5, "random", 2)
    with pytest.raises(ConfigError, match="n:m needs cols divisible by 8"):
        prune(w, 0.5, "n:m", 2)


def test_block_csc_bits_by_hand() -> None:
    # 1 PE, 8 rows x 2 columns: column 0 rows 0-3 (one block), column 1 rows 4-7 (one block
    # after one zero block). EIE: 8 entries x 8 bits = 64. Block-CSC: 2 blocks x (4 x 4 + 4).
    codes = np.zeros((8, 2), np.uint8)
    codes[0:4, 0] = 1
    codes[4:8, 1] = 2
    m = EIEMatrix.from_codes(codes, np.array([0, 0.5, -0.5], np.float32), num_pes=1)
    assert block_csc_bits(m) == (64, 40)
    # A run of 16 zero blocks before a block needs one filler block (4-bit index: <= 15).
    codes = np.zeros((4 * 17, 1), np.uint8)
    codes[64:68, 0] = 1
    m = EIEMatrix.from_codes(codes, np.array([0, 0.5], np.float32), num_pes=1)
    assert block_csc_bits(m)[1] == 2 * 20


def test_study_compares_patterns(tmp_path: Path) -> None:
    recs = study(density=0.125, rows=256, cols=128, num_pes=16)
    by = {r["pattern"]: r for r in recs}
    assert set(by) == set(PATTERNS) | {"block-csc"}
    assert all(r["density"] == pytest.approx(0.125) for r in recs)
    assert by["unstructured"]["index_overhead"] == pytest.approx(0.5, abs=0.02)
    assert by["block-csc"]["storage_bits"] < 0.7 * by["block"]["storage_bits"]
    assert by["block-csc"]["index_overhead"] < 0.25
    assert by["block-csc"]["energy_uj"] < by["block"]["energy_uj"]
    assert by["block-csc"]["spmat_sram_um2"] < by["block"]["spmat_sram_um2"]
    assert by["block-csc"]["cycles"] <= by["block"]["cycles"]  # fewer fillers, never more
    plot_structured(recs, tmp_path / "s.png")
    assert (tmp_path / "s.png").stat().st_size > 1000
