"""``eie run`` and ``eie bench`` end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import eie
from eie.cli.main import main
from eie.engine import reference
from eie.formats import EIEMatrix


def _model(tmp_path: Path) -> tuple[Path, eie.Model]:
    rng = np.random.default_rng(0)
    cb = np.linspace(-1, 1, 16).astype(np.float32)
    cb[0] = 0
    codes = np.where(rng.random((12, 20)) < 0.04, rng.integers(1, 16, (12, 20)), 0)
    codes2 = np.where(rng.random((5, 12)) < 0.8, rng.integers(1, 16, (5, 12)), 0)
    model = eie.Model((
        eie.Layer("fc1", EIEMatrix.from_codes(codes, cb, 4), rng.standard_normal(12)
                  .astype(np.float32), "relu"),
        eie.Layer("fc2", EIEMatrix.from_codes(codes2, cb, 2)),
    ))
    return eie.save(tmp_path / "m.eie", model), model


def test_run_writes_the_engine_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                      ) -> None:
    path, model = _model(tmp_path)
    x = np.random.default_rng(1).random((3, 20)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "y.npy"
    assert main(["run", str(path), "--input", str(tmp_path / "x.npy"), "-o", str(out),
                 "--timings", "--threads", "1"]) == 0
    y = np.load(out)
    expect = []
    for v in x:
        h = reference.spmv(model.layers[0].matrix, v, model.layers[0].bias, "relu")
        expect.append(reference.spmv(model.layers[1].matrix, h))
    np.testing.assert_allclose(y, np.stack(expect), rtol=1e-5, atol=1e-5)
    err = capsys.readouterr().err
    assert "fc1: sparse" in err and "fc2: dense" in err


def test_run_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, _ = _model(tmp_path)
    np.save(tmp_path / "bad.npy", np.zeros(7, np.float32))
    assert main(["run", str(path), "--input", str(tmp_path / "bad.npy")]) == 2
    assert "shape (20,)" in capsys.readouterr().err
    assert main(["run", str(path), "--input", str(tmp_path / "missing.npy")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_bench_quick_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--quick", "--json", "--threads", "1", "--groups", "layer,dense"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["threads"] == 1 and data["read_gbps"] > 0
    names = [r["name"] for r in data["records"]]
    assert names == ["alex6", "dense_4096x4096"]
    for r in data["records"]:
        for key in ("name", "rows", "cols", "weight_density", "act_density", "threads", "eie_us",
                    "numpy_fp32_us", "scipy_csr_us", "torch_fp32_us", "torch_bf16_us",
                    "torch_csr_us"):
            assert key in r
        assert r["eie_us"] > 0 and r["numpy_fp32_us"] > 0
    assert data["records"][1]["layout"] == "dense"


def test_bench_batch_group(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--quick", "--json", "--threads", "2", "--groups", "batch"]) == 0
    recs = json.loads(capsys.readouterr().out)["records"]
    assert [r["name"] for r in recs] == [f"{n}_b{b}_a{a}" for n in ("alex6", "dense")
                                         for a in ("0.35", "1") for b in (2, 16)]
    for r in recs:
        assert r["batch"] == int(r["name"].split("_b")[1].split("_")[0]) and r["threads"] == 2
        assert r["eie_us"] > 0 and r["numpy_fp32_us"] > 0 and r["scipy_csr_us"] > 0
        assert r["eie_entries_per_ns"] > 0


def test_bench_checks_eie_against_numpy() -> None:
    from eie.bench import engine_cases as bench
    from eie.errors import EngineError

    rng = np.random.default_rng(0)
    w = rng.standard_normal((5, 7)).astype(np.float32)
    x = rng.standard_normal((3, 7)).astype(np.float32)
    y = (w @ x.T).T.astype(np.float32)
    bench.check_agreement(y, w, x, "ok")  # no error
    bench.check_agreement(y[0], w, x[0], "ok, one input")
    y[1, 2] += 1e-2
    with pytest.raises(EngineError, match=r"differs from numpy's at \(1, 2\)"):
        bench.check_agreement(y, w, x, "bad")


def test_interleaved_timing_varies_the_order() -> None:
    """Every contender gets one block of calls per round, and the rounds take them in different
    orders, so none always runs right after the same one."""
    from eie.bench.timing import interleaved_medians

    log: list[str] = []
    fns = {k: (lambda k=k: log.append(k)) for k in ("a", "b", "c", "d")}
    med, _ = interleaved_medians(fns, budget_s=0.0, min_reps=9, max_reps=9, rounds=3)
    assert set(med) == set(fns) and all(v >= 0.0 for v in med.values())
    blocks = [log[i] for i in range(0, len(log), 3)]  # 3 calls per block
    assert all(log[i:i + 3] == [log[i]] * 3 for i in range(0, len(log), 3))
    assert blocks == ["a", "b", "c", "d", "c", "b", "a", "d", "c", "d", "a", "b"]
    preceding = {k: {blocks[i - 1] for i in range(1, len(blocks)) if blocks[i] == k} for k in fns}
    assert all(len(p) >= 2 for p in preceding.values())


def test_bench_lenet300_per_image(capsys: pytest.CaptureFixture[str]) -> None:
    """The whole-model case: a 4-bit and a 4/5/6-bit LeNet-300-100, eie against dense baselines
    (the run itself checks eie's output against numpy's)."""
    assert main(["bench", "--quick", "--json", "--threads", "1", "--groups", "lenet300"]) == 0
    data = json.loads(capsys.readouterr().out)
    runs = data["lenet300"]
    assert [r["bits"] for r in runs] == [[4, 4, 4], [4, 5, 6]]
    assert runs[0]["kinds"] == ["sparse", "sparse", "dense"]
    for r in runs:
        assert r["per_image_us"]["eie"] > 0 and r["per_image_us"]["numpy_fp32"] > 0
        assert list(r["eie_layers_us"]) == ["fc1", "fc2", "fc3"]


def test_bench_rejects_bad_groups(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--quick", "--groups", "nope"]) == 2
    assert "--groups" in capsys.readouterr().err
