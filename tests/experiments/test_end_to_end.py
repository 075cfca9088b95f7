"""`eie demo --quick` and `eie paper --quick` end to end: the JSON figures are consistent with
each other, with the saved file and with the simulator run directly, and the HTML report is
self-contained."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import eie
from eie.cli.main import main


def check_html(path: Path, min_images: int) -> None:
    text = path.read_text()
    images = re.findall(r"src='data:image/png;base64,([^']+)'", text)
    assert len(images) >= min_images
    assert all(base64.b64decode(i).startswith(b"\x89PNG") for i in images)
    assert "http://" not in text and "https://" not in text  # nothing fetched from a network
    assert not re.search(r"<(script|link|iframe)\b", text)
    for fig in re.findall(r"<figcaption>(.*?)</figcaption>", text, re.S):
        assert "Produced by" in fig  # every figure says how it was made


@pytest.mark.slow
def test_demo_quick(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--json", "--no-progress", "--out", str(out),
                 "--cache-dir", str(tmp_path / "cache")]) == 0
    s = json.loads(capsys.readouterr().out)
    acc = s["accuracy"]
    # Three ways to run the compressed model agree exactly on accuracy.
    assert acc["fast_engine"] == acc["torch_compressed"] == acc["reference_engine"]
    assert acc["torch_compressed"] == pytest.approx(acc["compress_report"])
    assert acc["fast_engine"] > 0.85 and acc["reference_uncompressed"] > 0.85
    assert s["agreement"]["engine_vs_torch_predictions"] >= s["agreement"]["images"] - 2
    # The compression ratio is what the saved file holds: the file stores the Huffman-coded
    # streams, so its size is the counted storage plus the biases and a JSON header.
    model = eie.load(s["eie_file"])
    storage = model.storage()
    assert s["compression_ratio_no_huffman"] == pytest.approx(storage.compression_ratio,
                                                              rel=1e-9)
    counted = s["dense_fp32_bytes"] / s["compression_ratio"]
    bias_bytes = sum(4 * layer.matrix.rows for layer in model.layers)
    assert 0.95 * counted < s["file_bytes"] < counted + bias_bytes + 8192
    assert s["compression_ratio"] > s["compression_ratio_no_huffman"] > 20
    assert 0.05 < s["density"] < 0.15
    # Simulated cycles are positive and equal to the simulator run directly.
    from eie.compress.data import mnist_split
    from eie.engine.fixed_point import FixedPointFormat
    from eie.sim import HardwareConfig, simulate

    sim = s["simulated"]
    assert sim["cycles"] > 0 and sim["latency_us"] > 0 and sim["energy_pj"] > 0
    x0 = mnist_split().x_test[0].reshape(-1).numpy().astype(np.float32)
    fmt = FixedPointFormat(act_frac_bits=sim["act_frac_bits"],
                           weight_frac_bits=sim["weight_frac_bits"])
    direct = simulate(model, x0, config=HardwareConfig(), fmt=fmt)
    assert direct.cycles == sim["first_image_cycles"]
    assert all(v > 0 for v in s["cpu_us_per_image"].values())
    check_transformer(s["transformer"], out)
    check_html(Path(s["report"]), min_images=3 if "skipped" in s["transformer"] else 4)
    assert (out / "report.md").is_file() and json.loads((out / "report.json").read_text())


def check_transformer(t: dict[str, Any], out: Path) -> None:
    """The demo's transformer section: real quality and speed figures, consistent with each
    other and with the report (skipped only where the llm extra or MiniLM is missing)."""
    from eie.experiments.transformer import availability

    why = availability()
    if why is not None:
        assert t == {"skipped": why}
        return
    schemes = {s["label"]: s for s in t["schemes"]}
    int4, cb = schemes["int4 g128"], schemes["codebook 4-bit"]
    assert int4["bits_per_weight"] == 4.25  # 384 and 1536 columns: whole groups of 128
    assert 4.4 < cb["bits_per_weight"] < 4.5  # 16 fp16 values per row (per 2 rows for q, k)
    # The learned codebooks beat linear int4 at these bits (measured 0.977 vs 0.936 on all 104
    # sentences, docs/llm.md); on the quick 16 sentences the margin is as wide.
    assert cb["cosine_mean"] > int4["cosine_mean"] + 0.02
    assert cb["cosine_mean"] > 0.95 and int4["cosine_mean"] > 0.85
    assert cb["cosine_min"] <= cb["cosine_mean"] <= 1.0
    # Both ran every Linear on the engine and gave torch's embeddings with the same weights.
    sp = t["speed"]
    for s in (int4, cb):
        assert s["engine_layers"] == sp["linear_layers"] == 37
        assert s["engine_vs_torch_max_abs"] < 1e-4
        assert 0.85 < s["engine_cosine_mean"] <= 1.0
    assert sp["sentence_tokens"] > 10
    # where this CPU runs the int8 kernel: the learned codebooks again with int8 products,
    # close to their fp32 products and as good against fp32 (within the int8 rounding)
    from eie.engine.kernels import int8_runs

    variants = {v["label"]: v for v in t["variants"]}
    assert set(variants) == ({"codebook 4-bit, int8"} if int8_runs() else set())
    for v in variants.values():
        assert v["scheme"] == "codebook 4-bit" and v["precision"] == "int8"
        assert 0 < v["vs_fp32_engine_max_abs"] < 0.2  # 0.045 in a full demo run
        assert abs(v["engine_cosine_mean"] - cb["engine_cosine_mean"]) < 0.01
        assert v["stream_bytes_per_token"] < cb["stream_bytes_per_token"]  # int8 tables
    for key in ("sentence_wall_us", "sentence_cpu_us", "linears_wall_us", "linears_cpu_us"):
        assert set(sp[key]) == {"torch fp32", "int4 g128", "codebook 4-bit", *variants}
        assert all(v > 0 for v in sp[key].values())
    # 4-bit codes stream 1/8 of the fp32 bytes, plus their tables: 16 fp32 values per row (per
    # 2 rows for q, k) for the codebooks, per row and 128 columns for int4's column blocks
    assert sp["fp32_bytes_per_token"] == 4 * t["linear_weights"]
    ratios = [s["stream_bytes_per_token"] / sp["fp32_bytes_per_token"]
              for s in (cb, int4)]
    assert 0.125 < ratios[0] < 0.17 and 0.2 < ratios[1] <= 0.25
    md = (out / "report.md").read_text()
    assert "all-MiniLM-L6-v2" in md and f"{cb['cosine_mean']:.3f}" in md


@pytest.mark.slow
def test_paper_quick(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "paper"
    assert main(["paper", "--quick", "--json", "--no-progress", "--out", str(out)]) == 0
    doc = json.loads(capsys.readouterr().out)
    layers = doc["results"]["layers"]
    assert [r["name"] for r in layers] == ["alex6", "alex7", "alex8", "vgg6", "vgg7", "vgg8",
                                           "nt_we", "nt_wd", "nt_lstm"]
    from eie.formats.benchmark_layers import make_layer
    from eie.sim import simulate

    m, x = make_layer("alex8", num_pes=64, seed=0)
    direct = simulate(m, x)
    alex8 = layers[2]
    assert alex8["eie_sim_cycles"] == direct.cycles > 0
    assert alex8["eie_sim_us"] == pytest.approx(direct.latency_us)
    for r in layers:
        assert r["eie_sim_us"] > 0 and r["eie_cpu_us"] > 0 and r["numpy_dense_us"] > 0
        assert 0.5 < r["load_efficiency"] <= 1.0
    chip = doc["results"]["breakdown"]["chip"]
    assert chip["power_mw"] == pytest.approx(590, rel=0.01)
    assert chip["area_mm2"] == pytest.approx(40.8, rel=0.01)
    names = {f["name"] for f in doc["figures"]}
    assert names == {"load_efficiency_vs_fifo", "speedup_vs_pes", "real_work_vs_pes",
                     "energy_vs_sram_width", "fillers_vs_index_bits",
                     "structured_vs_unstructured", "llm_resident_vs_streamed"}
    check_html(out / "report.html", min_images=7)
    structured = {r["pattern"]: r for r in doc["results"]["structured"]}
    assert structured["block-csc"]["storage_bits"] < structured["block"]["storage_bits"]
    assert all(r["fits_on_chip"] for r in doc["results"]["llm_scale"])  # pruned, quick
    from eie.sim import real_layers

    if real_layers.available():
        real = doc["results"]["real_layers"]
        assert all(r["real_pe_imbalance"] > r["synthetic_pe_imbalance"] for r in real)
    # A re-run resumes the sweeps from the results file instead of recomputing them.
    lines = (out / "sweep.jsonl").read_text().splitlines()
    assert main(["paper", "--quick", "--no-progress", "--out", str(out)]) == 0
    assert (out / "sweep.jsonl").read_text().splitlines() == lines
