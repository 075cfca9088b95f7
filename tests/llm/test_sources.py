"""Model sources and their one-line errors (CLI: exit 2, one line on stderr)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from eie.cli.main import main
from eie.errors import ConfigError, FormatError
from eie.llm.sources import gguf_architecture, load_source


def tiny_gguf(path: Path, arch: str) -> Path:
    import gguf

    w = gguf.GGUFWriter(str(path), arch)
    w.add_tensor("token_embd.weight", np.zeros((4, 8), np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main([*argv, "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith(f"eie {argv[0]}: error: "), err
    return err


def test_directory_without_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(ConfigError, match="no config.json"):
        load_source(tmp_path)
    assert "no config.json" in one_line_error(
        capsys, ["quantize", str(tmp_path), "-o", str(tmp_path / "o.eie"), "--weighting",
                 "none"])


def test_unsupported_model_type(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    with pytest.raises(ConfigError, match="'gpt2' is not supported"):
        load_source(tmp_path)


def test_gguf_of_unsupported_architecture(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("gguf")
    p = tiny_gguf(tmp_path / "m.gguf", "gpt2")
    assert gguf_architecture(p) == "gpt2"
    with pytest.raises(ConfigError, match="architecture 'gpt2' is not supported"):
        load_source(p)
    assert "not supported" in one_line_error(
        capsys, ["eval", str(p), "--text", str(p)])


def test_truncated_gguf(tmp_path: Path, smollm2_gguf: Path,
                        capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "cut.gguf"
    with smollm2_gguf.open("rb") as f:
        p.write_bytes(f.read(3 << 20))
    with pytest.raises(FormatError, match="truncated"):
        load_source(p)
    tiny = tmp_path / "tiny.gguf"
    tiny.write_bytes(smollm2_gguf.read_bytes()[:100])
    with pytest.raises(FormatError, match="truncated or corrupted"):
        load_source(tiny)
    assert "truncated" in one_line_error(
        capsys, ["quantize", str(p), "-o", str(tmp_path / "o.eie"), "--weighting", "none"])


def test_not_a_model(tmp_path: Path) -> None:
    p = tmp_path / "notes.txt"
    p.write_text("hello")
    with pytest.raises(FormatError, match="not a GGUF file"):
        load_source(p)
    with pytest.raises(ConfigError, match="no such file"):
        load_source(tmp_path / "absent")


def test_empty_calibration_text(tmp_path: Path, minilm_dir: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n\n")
    err = one_line_error(capsys, ["quantize", str(minilm_dir), "-o", str(tmp_path / "o.eie"),
                                  "--calib", str(empty)])
    assert "empty" in err
    from eie.llm.calibrate import calibrate

    loaded = load_source(minilm_dir)
    with pytest.raises(ConfigError, match="empty"):
        calibrate(loaded, "")


def test_codebook_weighting_without_calibration_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = one_line_error(capsys, ["quantize", str(tmp_path), "-o", str(tmp_path / "o.eie")])
    assert "--calib" in err


def test_copied_model_directory_loads(tmp_path: Path, minilm_dir: Path) -> None:
    d = tmp_path / "m"
    shutil.copytree(minilm_dir, d)
    loaded = load_source(d)
    assert loaded.kind == "encoder" and loaded.model_type == "bert"
