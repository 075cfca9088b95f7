"""The demo's transformer section without the model: the skip path is stated in the report, and
the section lays out a result's figures (the real run is checked in test_end_to_end.py)."""

from __future__ import annotations

from eie.experiments.transformer import (
    SchemeResult,
    SpeedResult,
    TransformerResult,
    TransformerSkipped,
    VariantResult,
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
    keys = ("torch fp32", "int4 g128", "codebook 4-bit", "codebook 4-bit, int8")
    speed = SpeedResult(
        sentence_tokens=12, linear_layers=2, threads=1, isa="avx2",
        sentence_wall_us=dict(zip(keys, (900.0, 600.0, 450.0, 300.0), strict=True)),
        sentence_cpu_us=dict(zip(keys, (800.0, 500.0, 400.0, 250.0), strict=True)),
        linears_wall_us=dict(zip(keys, (300.0, 100.0, 60.0, 30.0), strict=True)),
        linears_cpu_us=dict(zip(keys, (200.0, 80.0, 50.0, 25.0), strict=True)),
        fp32_bytes_per_token=4 * 2**20)
    t = TransformerResult(
        model="m", source="s", sentences=3, engine_sentences=2, calibration_tokens=100,
        linear_weights=2**20,
        schemes=(SchemeResult("int4 g128", "int4:group=128", (), 4.25, 0.9355, 0.9, 0.1,
                              0.9351, 4e-7, 2, 2**19 + 2**16),
                 SchemeResult("codebook 4-bit", "codebook", (), 4.45, 0.9774, 0.96, 2.0,
                              0.9771, 5e-7, 2, 2**19 + 2**15)),
        speed=speed,
        variants=(VariantResult("codebook 4-bit, int8", "codebook 4-bit", "int8", 0.9768, 2e-3,
                                2**19 + 2**14),))
    r = Report("demo")
    add_transformer_section(r, t.to_json(), "eie demo")
    quality, timing = [b for kind, b in r.blocks if kind == "table"]
    assert [row[0] for row in quality.rows] == ["int4 g128", "codebook 4-bit"]
    assert [row[4] for row in quality.rows] == [0.9351, 0.9771]
    assert [row[6] for row in quality.rows] == ["2/2", "2/2"]
    assert [row[0] for row in timing.rows] == ["torch fp32", "eie engine, int4 g128",
                                               "eie engine, codebook 4-bit",
                                               "eie engine, codebook 4-bit, int8"]
    assert [row[1] for row in timing.rows] == [4.0, 0.5625, 0.53125, 0.515625]  # MiB per token
    assert [row[4] for row in timing.rows] == [1.0, 3.0, 5.0, 10.0]  # Linear speed-up, wall
    assert [row[8] for row in timing.rows] == [1.0, 1.5, 2.0, 3.0]  # whole encoder
    assert "codebook 4-bit, int8: the codebook 4-bit model on eie's engine" in r.to_markdown()
    assert "embedding cosine 0.9768 on the first 2 sentences" in r.to_markdown()
    assert timing.rows[2][7] == 12 * 1e6 / 450.0  # encoder tokens / s
    assert sum(kind == "figure" for kind, _ in r.blocks) == 1
