"""The demo's transformer section without the model: the skip path is stated in the report, and
the section lays out a result's figures (the real run is checked in test_end_to_end.py)."""

from __future__ import annotations

from eie.experiments.transformer import (
    SchemeResult,
    SpeedResult,
    TransformerResult,
    TransformerSkipped,
)
from eie.report import Report
from eie.report.transformer import add_transformer_section


def test_skipped_transformer_says_why() -> None:
    r = Report("demo")
    add_transformer_section(r, TransformerSkipped("the llm extra is not installed").to_json(),
                            "eie demo")
    md = r.to_markdown()
    assert "Skipped: the llm extra is not installed." in md
    assert not any(kind == "figure" for kind, _ in r.blocks)


def test_section_shows_quality_and_speed_side_by_side() -> None:
    speed = SpeedResult(
        sentence_tokens=12, linear_layers=2, threads=1, isa="avx2",
        wall_us={"torch_fp32_sentence": 900.0, "eie_sentence": 450.0,
                 "torch_fp32_linears": 300.0, "eie_linears": 60.0},
        cpu_us={"torch_fp32_sentence": 800.0, "eie_sentence": 400.0,
                "torch_fp32_linears": 200.0, "eie_linears": 50.0},
        linear_weight_bytes={"torch_fp32": 4.0 * 2**20, "eie": 0.5 * 2**20})
    t = TransformerResult(
        model="m", source="s", sentences=3, calibration_tokens=100, linear_weights=2**20,
        schemes=(SchemeResult("int4 g128", "int4:group=128", (), 4.25, 0.9355, 0.9, 0.1, None),
                 SchemeResult("codebook 4-bit", "codebook", (), 4.45, 0.9774, 0.96, 2.0,
                              0.9771)),
        engine_sentences=2, engine_vs_torch_max_abs=5e-7, speed=speed)
    r = Report("demo")
    add_transformer_section(r, t.to_json(), "eie demo")
    tables = [b for kind, b in r.blocks if kind == "table"]
    quality, timing = tables
    assert [row[0] for row in quality.rows] == ["int4 g128", "codebook 4-bit"]
    assert quality.rows[0][4] == "no engine layout" and quality.rows[1][4] == 0.9771
    assert [row[3] for row in timing.rows] == [2.0, 5.0]  # torch / eie, wall
    assert [row[6] for row in timing.rows] == [2.0, 4.0]  # and CPU time
    assert "4.0 MiB in fp32, 0.5 MiB" in timing.note
    assert sum(kind == "figure" for kind, _ in r.blocks) == 1
