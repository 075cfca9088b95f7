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


def _linears(rng: object, shapes: list[tuple[int, int]]) -> list[object]:
    import numpy as np

    from eie.formats import EIEMatrix
    from eie.llm.engine_linear import Block, EngineLinear

    assert isinstance(rng, np.random.Generator)
    out = []
    for i, (rows, cols) in enumerate(shapes):
        m = EIEMatrix.from_group_codes(rng.integers(0, 16, (rows, cols)).astype(np.uint8),
                                       rng.standard_normal((rows, 16)).astype(np.float32),
                                       group_rows=1, num_pes=1, zero_code=False)
        out.append(EngineLinear(f"l{i}", rows, cols, [Block(0, cols, m)], threads=1))
    return out


def test_linear_floor_rounds_pair_each_pass_with_a_read() -> None:
    from types import SimpleNamespace

    import numpy as np

    lins = _linears(np.random.default_rng(1), [(96, 64), (64, 200), (130, 96)])
    stream = sum(lin.stream_bytes for lin in lins)  # type: ignore[attr-defined]
    rt = SimpleNamespace(decoder=SimpleNamespace(linears=lins),
                         linear_stream_bytes=lambda: stream)
    f = bench_generate.linear_floor_rounds(rt, {"linear": 1.5}, threads=1, rounds=3, mib=8)
    assert len(f["rounds"]) == 3 and f["decode_linear_ms_per_token"] == 1.5
    assert f["linear_stream_mb_per_token"] == stream / 1e6
    for r in f["rounds"]:
        bw = r["bandwidth_gb_s"]["read_wall"]
        assert r["floor_ms_per_token"] == pytest.approx(stream / (bw * 1e9) * 1e3)
        assert r["linear_over_floor"] == pytest.approx(r["kernels_ms_per_token"]
                                                       / r["floor_ms_per_token"])
        # the C++ calls' own time is part of the pass's time
        assert 0 < r["kernels_inside_ms_per_token"] <= r["kernels_ms_per_token"]
    ratios = sorted(r["linear_over_floor"] for r in f["rounds"])
    assert f["linear_over_floor"] == ratios[1]  # the median of the rounds' ratios


def test_engine_linear_vector_path_and_its_kernel_time() -> None:
    import numpy as np

    from eie.llm.engine_linear import EngineLinear

    rng = np.random.default_rng(2)
    (lin,) = _linears(rng, [(70, 150)])
    assert isinstance(lin, EngineLinear)
    x = rng.standard_normal((1, 150)).astype(np.float32)
    y = lin(x)  # the direct C++ call
    us = lin.kernel_us()
    assert y.shape == (1, 70) and us is not None and us > 0
    # the same product through Engine.run (a float64 and a strided input take that path)
    assert lin._single is not None
    np.testing.assert_array_equal(y, lin._single.run(x[0])[None])
    np.testing.assert_array_equal(y, lin(x.astype(np.float64)))
    wide = np.zeros((1, 300), np.float32)
    wide[0, ::2] = x[0]
    np.testing.assert_array_equal(y, lin(wide[:, ::2]))
    y2 = lin(x)
    assert y2 is not y and np.shares_memory(y2, y) is False  # a new array each call
    dense = EngineLinear("d", 70, 150, None, None, dense=rng.standard_normal((70, 150))
                         .astype(np.float32), threads=1)
    assert dense.kernel_us() is None
