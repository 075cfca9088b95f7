"""eie inspect / eie convert on the shared fixture and on a small model; --help everywhere."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import eie
from eie.cli.main import COMMANDS, main


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "eie", *args], capture_output=True, text=True)


def test_help_everywhere() -> None:
    out = run_cli("--help")
    assert out.returncode == 0
    for name in COMMANDS:
        assert name in out.stdout
        sub = run_cli(name, "--help")
        assert sub.returncode == 0, sub.stderr
        assert "usage: eie " + name in sub.stdout


def test_convert_and_inspect_fixture(fixture_dir: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "fc8.eie"
    assert main(["convert", str(fixture_dir), str(out)]) == 0
    act = np.load(tmp_path / "fc8.input.npy")
    assert act.shape == (4096,)
    capsys.readouterr()
    assert main(["inspect", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    layer = info["layers"][0]
    assert layer["shape"] == [1000, 4096] and layer["num_pes"] == 64
    nnz = layer["nnz"]
    assert layer["fillers"] == 0 and layer["activation"] == "relu" and layer["has_bias"]
    bits = layer["storage_bits"]
    assert bits["codes"] == 4 * nnz and bits["rel_index"] == 4 * nnz
    assert bits["pointers"] == 64 * 4097 * 16  # 16-bit pointers, cols + 1 per PE
    assert bits["codebook"] == 16 * 32 and bits["fillers"] == 0
    assert layer["total_bits"] == sum(bits.values())
    assert layer["compression_ratio"] == pytest.approx(1000 * 4096 * 32 / layer["total_bits"])
    # The file stores exactly what the breakdown counts, plus bias and a small header.
    assert layer["total_bytes"] < info["file_bytes"] < layer["total_bytes"] + 4000 + 4 * 1000
    # Tables for people, too.
    assert main(["inspect", str(out)]) == 0
    text = capsys.readouterr().out
    assert "rel_index" in text and "pointers" in text and "4,195,328" in text
    # And back to the simulator layout, byte for byte.
    back = tmp_path / "back"
    assert main(["convert", str(out), str(back), "--to", "eiesim"]) == 0
    for f in ("arithm.dat", "act.dat", "ptr/ptr0.dat", "spm/spm63.dat"):
        assert (back / f).read_bytes() == (fixture_dir / f).read_bytes()


def test_errors_are_one_line_with_exit_code_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.eie"
    bad.write_bytes(b"not a model at all")
    out = run_cli("inspect", str(bad))
    assert out.returncode == 2
    assert out.stderr.startswith("eie inspect: error:") and "Traceback" not in out.stderr
    out = run_cli("convert", str(tmp_path / "nothing.eie"), str(tmp_path / "o"))
    assert out.returncode == 2 and "no such file" in out.stderr


def test_inspect_multi_layer_total(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(0)
    layers = []
    for i, (r, c) in enumerate([(30, 20), (10, 30)]):
        codes = np.where(rng.random((r, c)) < 0.2, rng.integers(1, 16, (r, c)), 0)
        m = eie.EIEMatrix.from_codes(codes, np.arange(16, dtype=np.float32), num_pes=2)
        layers.append(eie.Layer(f"l{i}", m))
    path = eie.save(tmp_path / "two.eie", eie.Model(tuple(layers)))
    assert main(["inspect", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    total = info["total"]
    assert total["total_bits"] == sum(L["total_bits"] for L in info["layers"])
    assert total["nnz"] == sum(L["nnz"] for L in info["layers"])
