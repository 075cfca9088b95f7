"""The decoding benchmark's measuring pieces (the full run is in docs/llm.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from eie.llm import bench_generate


def test_bandwidth_and_zero_skipping_rows() -> None:
    bw = bench_generate.bandwidth_gb_s(mib=16, passes=1, threads=2)
    assert bw["read_wall"] > 0 and bw["read_cpu"] > 0 and bw["memcpy_wall"] > 0
    assert bw["read_wall_2_threads"] > 0
    rows = bench_generate.zero_skipping_kernels([0.0, 0.5], threads=1, reps=2)
    assert [r["sparsity"] for r in rows] == [0.0, 0.5]
    assert rows[0]["dense_speedup"] == rows[0]["rowwise_speedup"] == 1.0
    assert all(r["dense_us"] > 0 and r["rowwise_us"] > 0 for r in rows)


def test_command_line_refuses_missing_model(tmp_path: Path) -> None:
    from eie.errors import FormatError

    with pytest.raises(FormatError, match="no such file"):
        bench_generate.main([str(tmp_path / "none.eie")])
