"""The reference engine against its versioned golden vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from eie.engine import golden
from eie.errors import FormatError

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "reference_v2.safetensors"


def test_reference_matches_golden_vectors() -> None:
    bad = golden.check(GOLDEN)
    assert not bad, (f"reference engine outputs changed for {bad}; if the change is intended, "
                     f"regenerate with `{golden.REGENERATE}`")


def test_check_reads_the_inputs_from_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    # No random draw happens in check: the inputs are the stored ones.
    def no_rng(*args: object, **kwargs: object) -> None:
        raise AssertionError("check should not draw random numbers")

    monkeypatch.setattr(np.random, "default_rng", no_rng)
    assert golden.check(GOLDEN) == []


def test_a_changed_input_or_output_is_named(tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    stored = golden.read(GOLDEN)
    stored["odd_33x31.float_relu"] = stored["odd_33x31.float_relu"] + 1.0
    stored["tiny_1x1.x"] = stored["tiny_1x1.x"] * 2 + 1  # changes that case's outputs
    del stored["saturating.bias"]
    p = tmp_path / "g.safetensors"
    save_file(stored, str(p), metadata={"magic": golden.MAGIC, "version": str(golden.VERSION)})
    assert golden.check(p) == ["saturating.bias"]
    stored["saturating.bias"] = golden.read(GOLDEN)["saturating.bias"]
    save_file(stored, str(p), metadata={"magic": golden.MAGIC, "version": str(golden.VERSION)})
    assert set(golden.check(p)) >= {"odd_33x31.float_relu", "tiny_1x1.float_linear"}


def test_golden_cases_cover_the_awkward_ones() -> None:
    stored = golden.read(GOLDEN)
    assert stored["tiny_1x1.codes"].shape == (1, 1)
    sat = stored["saturating.fixed_linear"]
    assert sat.dtype == np.int16 and (sat.max() == 32767 or sat.min() == -32768)
    assert np.all(stored["odd_33x31.fixed_relu"] >= 0)


def test_wrong_version_is_refused(tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    p = tmp_path / "g.safetensors"
    save_file({"a": np.zeros(1, np.float32)}, str(p), metadata={"magic": golden.MAGIC,
                                                                  "version": "0"})
    with pytest.raises(FormatError, match="regenerate"):
        golden.read(p)


def test_regenerate_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``python -m eie.engine.golden PATH`` (eie.cli.golden_cmd) writes a file that checks
    clean; a missing folder or a stray option is one line and exit code 2."""
    from eie.cli.golden_cmd import main

    target = tmp_path / "g.safetensors"
    assert main([str(target)]) == 0
    assert capsys.readouterr().out == f"wrote {target}\n"
    assert golden.check(target) == []
    assert main([str(tmp_path / "no" / "g.safetensors")]) == 2
    assert main(["--force"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and "its folder should exist" in err[0] and err[1].startswith("usage:")
