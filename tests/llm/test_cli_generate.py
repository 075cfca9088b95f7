"""``eie generate`` and ``eie eval --engine`` on a two-block slice of SmolLM2 saved as a file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from eie.cli.main import main
from eie.llm.data import sample_path

CALIB = str(sample_path("sample_calib.txt"))
EVAL = str(sample_path("sample_eval.txt"))


@pytest.fixture(scope="module")
def slice_file(first_blocks: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from eie.llm import modelfile
    from eie.llm.quantize import parse_spec, quantize_model

    m = first_blocks(2)
    qm = quantize_model(m, parse_spec("codebook:weighting=none"))
    return modelfile.save(tmp_path_factory.mktemp("gen") / "slice.eie", qm)


def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict[str, Any]:
    assert main([*argv, "--json", "--no-progress"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.slow
def test_generate_json_text_and_sparsity(slice_file: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    r = _json(capsys, ["generate", str(slice_file), "--prompt", "The engine", "-n", "6",
                       "--threads", "1", "--ignore-eos"])
    assert r["new_tokens"] == 6 and len(r["token_ids"]) == 6 and isinstance(r["text"], str)
    assert r["tokens_per_s"] > 0 and r["threads"] == 1
    assert r["engine_layers"] == 8 and r["dense_fallback_layers"] == ["lm_head"]
    assert set(r["breakdown_ms_per_token"]) >= {"linear", "attention", "lm_head", "python"}
    s = _json(capsys, ["generate", str(slice_file), "--prompt", "The engine", "-n", "6",
                       "--threads", "1", "--ignore-eos", "--act-sparsity", "0.5", "--calib",
                       CALIB, "--calib-tokens", "256"])
    assert s["act_sparsity"] == 0.5 and s["new_tokens"] == 6
    from eie.llm.engine_linear import zero_skipping_layout

    a = _json(capsys, ["generate", str(slice_file), "--prompt", "The engine", "-n", "6",
                       "--threads", "1", "--ignore-eos", "--act-sparsity", "0.4", "--calib",
                       CALIB, "--act-alloc", "block", "--act-score", "wina",
                       "--act-profile-tokens", "64"])
    assert (a["act_alloc"], a["act_score"], a["new_tokens"]) == ("block", "wina", 6)
    # the Linear layers whose allocated level pays for it move to the zero-skipping layout
    lay = zero_skipping_layout()
    assert a["linear_layout"] in ("auto", lay) or a["linear_layout"].startswith(f"{lay} on ")
    assert main(["generate", str(slice_file), "--prompt", "The engine", "-n", "3",
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "tokens/s" in out and "ms per token" in out


@pytest.mark.slow
def test_eval_on_the_engine_equals_torch(slice_file: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    args = ["eval", str(slice_file), "--text", EVAL, "--max-tokens", "256", "--context", "128"]
    torch_r = _json(capsys, args)
    eng = _json(capsys, [*args, "--engine", "--threads", "1"])
    assert eng["evaluated_with"].startswith("eie's kernels")
    assert eng["predicted_tokens"] == torch_r["predicted_tokens"] == 254
    assert eng["perplexity"] == pytest.approx(torch_r["perplexity"], rel=1e-4)
    sp = _json(capsys, [*args, "--engine", "--calib", CALIB, "--calib-tokens", "256",
                        "--act-sparsity", "0", "0.5"])
    assert [row["target"] for row in sp["act_sparsity"]] == [0, 0.5]
    assert sp["act_sparsity"][0]["perplexity"] == pytest.approx(eng["perplexity"], rel=1e-4)
    assert sp["act_sparsity"][1]["perplexity"] != sp["act_sparsity"][0]["perplexity"]
    # the torch path reports the realised fractions: entries zeroed and Linear work skipped
    tp = _json(capsys, [*args, "--calib", CALIB, "--calib-tokens", "256", "--act-sparsity",
                        "0", "0.5"])
    assert tp["act_alloc"] == "uniform" and tp["act_sparsity"][0]["realised_work"] == 0.0
    assert 0.35 < tp["act_sparsity"][1]["realised"] < 0.65
    assert 0.35 < tp["act_sparsity"][1]["realised_work"] < 0.65
    assert tp["act_sparsity"][1]["perplexity"] == pytest.approx(
        sp["act_sparsity"][1]["perplexity"], rel=0.02)


def test_generate_and_eval_with_int8_precision(slice_file: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """--precision int8 reaches every engine Linear: the JSON says whether the int8 kernel ran
    on this CPU, and the perplexity moves (the inputs are rounded) by little where it did."""
    from eie.engine.kernels import int8_runs

    r = _json(capsys, ["generate", str(slice_file), "--prompt", "The engine", "-n", "4",
                       "--threads", "1", "--ignore-eos", "--precision", "int8"])
    assert r["precision"] == "int8" and r["int8_kernel"] == int8_runs()
    assert r["new_tokens"] == 4
    args = ["eval", str(slice_file), "--text", EVAL, "--max-tokens", "256", "--context", "128",
            "--engine", "--threads", "1"]
    fp32 = _json(capsys, args)["perplexity"]
    int8 = _json(capsys, [*args, "--precision", "int8"])["perplexity"]
    if int8_runs():
        assert int8 != fp32 and int8 == pytest.approx(fp32, rel=0.05)
    else:
        assert int8 == fp32
    with pytest.raises(SystemExit) as e:
        main(["generate", str(slice_file), "--prompt", "x", "--precision", "int4"])
    assert e.value.code == 2 and "invalid choice: 'int4'" in capsys.readouterr().err


def test_generate_and_eval_with_a_float16_lm_head(slice_file: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """--lm-head-dtype float16 runs the kept (float32) head rounded to float16 on the engine's
    float16 GEMV: the perplexity moves by the rounding only (relative 2e-4 per weight here)."""
    r = _json(capsys, ["generate", str(slice_file), "--prompt", "The engine", "-n", "4",
                       "--threads", "1", "--ignore-eos", "--lm-head-dtype", "float16"])
    assert r["lm_head_dtype"] == "float16" and r["new_tokens"] == 4
    assert r["dense_fallback_layers"] == ["lm_head"]
    args = ["eval", str(slice_file), "--text", EVAL, "--max-tokens", "256", "--context", "128",
            "--engine", "--threads", "1"]
    fp32 = _json(capsys, args)["perplexity"]
    fp16 = _json(capsys, [*args, "--lm-head-dtype", "float16"])["perplexity"]
    assert fp16 != fp32 and fp16 == pytest.approx(fp32, rel=2e-3)
    # the torch path does not run the kernels: the flag without --engine is refused
    assert main(["eval", str(slice_file), "--text", EVAL, "--lm-head-dtype", "float16"]) == 2
    assert "add --engine" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["generate", str(slice_file), "--prompt", "x", "--lm-head-dtype", "int8"])
    assert e.value.code == 2 and "invalid choice: 'int8'" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["-n", "0"], "-n should be a positive"),
    (["--act-sparsity", "0.3"], "needs --calib"),
    (["--act-sparsity", "1.5", "--calib", CALIB], "should be in [0, 1)"),
    (["--threads", "0"], "threads should be an integer"),
    (["--temperature", "-1"], "temperature should be in"),
    (["--top-p", "0"], "top_p should be in"),
])
def test_generate_bad_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                argv: list[str], message: str) -> None:
    assert main(["generate", str(tmp_path / "m.eie"), "--prompt", "x", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_generate_bad_model_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate", str(tmp_path / "none.eie"), "--prompt", "x"]) == 2
    assert "no such file" in capsys.readouterr().err
    bad = tmp_path / "bad.eie"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{}")
    assert main(["generate", str(bad), "--prompt", "x"]) == 2
    err = capsys.readouterr().err.strip()
    assert "not a quantized transformer .eie file" in err and len(err.splitlines()) == 1
    assert main(["eval", str(bad.parent), "--text", EVAL, "--engine"]) == 2
    assert "error" in capsys.readouterr().err
