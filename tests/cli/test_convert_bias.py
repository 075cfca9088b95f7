"""eie convert --to eiesim on a layer with a bias that is not made of codebook entries."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import eie
from eie.cli.main import main
from eie.formats import eiesim


def test_quantize_bias_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(3)
    cb = np.array([0.0, 0.5, -0.5, 0.25, -1.0], np.float32)
    m = eie.EIEMatrix.from_codes(rng.integers(0, 5, (10, 7)), cb, 2)
    bias = rng.normal(0, 0.4, 10).astype(np.float32)
    eie.save(tmp_path / "m.eie", eie.Model((eie.Layer("fc", m, bias, "relu"),)))
    assert main(["convert", str(tmp_path / "m.eie"), str(tmp_path / "d"), "--to", "eiesim"]) == 2
    assert "--quantize-bias" in capsys.readouterr().err
    assert main(["convert", str(tmp_path / "m.eie"), str(tmp_path / "d"), "--to", "eiesim",
                 "--quantize-bias"]) == 0
    out = capsys.readouterr().out
    nearest = cb[np.argmin(np.abs(bias[:, None] - cb[None]), axis=1)]
    err = float(np.max(np.abs(nearest - bias)))
    assert f"largest error {err:.6g}" in out
    matrix, b, _ = eiesim.load(tmp_path / "d", rows=10)
    np.testing.assert_array_equal(b, nearest)
    np.testing.assert_array_equal(matrix.to_codes(), m.to_codes())
