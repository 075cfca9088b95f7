"""``eie quantize`` and ``eie eval`` on the two bundled models (slices, one full run marked slow).

Perplexity and cosine here are from torch with the dequantized weights. SmolLM2's reference is
its own GGUF (Q4_1) dequantized, so quality is measured against that 4-bit model.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from eie.cli.main import main
from eie.llm.data import sample_path

CALIB = str(sample_path("sample_calib.txt"))
EVAL = str(sample_path("sample_eval.txt"))
SENTENCES = str(sample_path("sample_sentences.txt"))


def run_json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict[str, Any]:
    assert main([*argv, "--json", "--no-progress"]) == 0
    return json.loads(capsys.readouterr().out)


def test_minilm_quantize_then_eval(tmp_path: Path, minilm_dir: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "minilm.eie"
    q = run_json(capsys, ["quantize", str(minilm_dir), "-o", str(out), "--calib", CALIB,
                          "--calib-tokens", "1024"])
    assert q["kind"] == "encoder" and q["quantized_layers"] == 37
    # 384-column rows pay 16 x 16 codebook bits over 384 weights, 1536-column rows over 1536.
    assert 4.4 < q["bits_per_weight"] < 4.52
    assert all(v["rel_error"] < 0.03 for v in q["layers"].values())
    e = run_json(capsys, ["eval", str(out), "--reference", str(minilm_dir), "--sentences",
                          SENTENCES])
    assert e["evaluated_with"].startswith("torch")
    assert e["sentences"] == 104 and 0.96 < e["cosine_mean"] < 1.0
    assert e["bits_per_weight"] == pytest.approx(q["bits_per_weight"])


def test_minilm_compare_learned_codebook_beats_int4(minilm_dir: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    r = run_json(capsys, ["eval", str(minilm_dir), "--sentences", SENTENCES, "--calib", CALIB,
                          "--calib-tokens", "1024", "--compare", "int4:group=128", "codebook"])
    int4, cb = r["compare"]
    assert int4["bits_per_weight"] == pytest.approx(4.25, abs=0.03)
    assert cb["cosine_mean"] > int4["cosine_mean"] + 0.02


@pytest.mark.slow
def test_smollm2_first_block_slice(smollm2: Any, calib_text: str, eval_text: str) -> None:
    # Layer 0's seven Linear layers, both weightings, against the dequantized GGUF reference.
    from eie.llm.evaluate import perplexity
    from eie.llm.quantize import QuantSpec, quantize_model

    ref = perplexity(smollm2, eval_text, context=256, max_tokens=512)["perplexity"]
    names = [f"model.layers.0.{p}" for p in ("self_attn.q_proj", "self_attn.k_proj",
                                              "self_attn.v_proj", "self_attn.o_proj",
                                              "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")]
    results = {}
    for label, spec in {"int3": QuantSpec("int3", group=128),
                        "act": QuantSpec("codebook", bits=3),
                        "fisher": QuantSpec("codebook", bits=3, weighting="fisher")}.items():
        m = copy.copy(smollm2)
        m.model = copy.deepcopy(smollm2.model)
        qm = quantize_model(m, spec, calib_text, layers=names, calib_tokens=256, context=256)
        assert qm.report["quantized_layers"] == 7
        results[label] = perplexity(m, eval_text, context=256, max_tokens=512)["perplexity"]
    assert results["act"] < results["int3"]
    # 3 bits from only 256 calibration tokens: measured 1.58x the reference here (126.7 vs
    # 80.2), inside the 2x the 3-bit goal allows (the whole model with more tokens: docs/llm.md).
    assert ref < results["act"] < 2 * ref
    # The diagonal Fisher from 256 tokens is noisy, so only that it runs and stays within 2x
    # is asserted.
    assert ref < results["fisher"] < 2 * ref


@pytest.mark.slow
def test_smollm2_whole_model_quantize_and_eval(tmp_path: Path, smollm2_gguf: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "smollm2.eie"
    q = run_json(capsys, ["quantize", str(smollm2_gguf), "-o", str(out), "--calib", CALIB,
                          "--calib-tokens", "1024"])
    assert q["kind"] == "causal-lm" and q["quantized_layers"] == 210
    assert q["bits_per_weight"] <= 4.5
    e = run_json(capsys, ["eval", str(out), "--text", EVAL, "--max-tokens", "1024"])
    ref = run_json(capsys, ["eval", str(smollm2_gguf), "--text", EVAL, "--max-tokens", "1024"])
    assert e["tokens"] == ref["tokens"]
    assert ref["perplexity"] < e["perplexity"] < 1.25 * ref["perplexity"]
