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


def test_command_line_refuses_missing_model(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    from eie.cli.main import main

    assert main(["bench-llm", str(tmp_path / "none.eie")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("eie bench-llm: error: ") and "no such file" in err and "\n" not in err


def test_library_module_has_no_command_line() -> None:
    """The measurements are a library: argparse and printing live in eie.cli.llm_bench_cmd."""
    import inspect

    src = inspect.getsource(bench_generate)
    assert "argparse" not in src and "print(" not in src


def test_linear_against_its_dense_twin() -> None:
    import numpy as np

    from eie.formats import EIEMatrix
    from eie.llm.engine_linear import Block, EngineLinear

    rng = np.random.default_rng(0)
    m = EIEMatrix.from_group_codes(rng.integers(0, 16, (64, 96)).astype(np.uint8),
                                   rng.standard_normal((64, 16)).astype(np.float32),
                                   group_rows=1, num_pes=1, zero_code=False)
    lin = EngineLinear("head", 64, 96, [Block(0, 96, m)], threads=1)
    r = bench_generate.linear_vs_dense(lin, reps=2, rounds=1)
    assert r["engine_cpu_ms"] >= 0 and r["dense_cpu_ms"] >= 0 and r["engine_wall_ms"] > 0
