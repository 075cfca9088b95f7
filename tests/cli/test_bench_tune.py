"""``eie bench``'s llm group (per-row codebooks, wall + thread CPU time, ISA) and ``--tune``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eie.cli.main import main
from eie.engine import kernels, layout, tuning
from eie.errors import ConfigError


def test_bench_llm_group(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--quick", "--json", "--threads", "1", "--groups", "llm"]) == 0
    recs = json.loads(capsys.readouterr().out)["records"]
    assert [r["name"] for r in recs] == ["rowcb_576x576_b1", "rowcb_576x576_b8",
                                         "rowcb_192x576_b1", "rowcb_192x576_b8"]
    for r in recs:
        assert r["layout"] == "rowwise" and r["isa"] == kernels.active_isa_name()
        assert r["eie_us"] > 0 and r["eie_cpu_us"] > 0 and r["torch_bf16_cpu_us"] > 0
        assert r["batch"] == int(r["name"].rsplit("_b", 1)[1])


def test_tune_writes_the_table_the_package_reads(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "tuning.json"
    assert main(["bench", "--tune", "--quick", "--tune-out", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    table = json.loads(out.read_text())
    assert table["format"] == "eie-tuning"
    assert set(table["isas"]) == set(kernels.available_isas())
    for entry in table["isas"].values():
        assert 0 <= entry["dense_crossover_4bit"] <= 1 and entry["ratios"]
        assert entry["command"].startswith("eie bench --tune")
    # the package reads the table named by EIE_TUNING
    isa = kernels.active_isa_name()
    table["isas"][isa]["dense_crossover_4bit"] = 0.5
    table.pop("cpus", None)
    out.write_text(json.dumps(table))
    monkeypatch.setenv("EIE_TUNING", str(out))
    tuning.reload()
    try:
        assert tuning.crossover(isa, 16) == 0.5
        assert layout.choose_layout(0.45) == "sparse" and layout.choose_layout(0.5) == "dense"
        out.write_text(json.dumps({"format": "eie-tuning", "isas": {isa: {
            "dense_crossover_4bit": 2.0, "dense_crossover_8bit": 0.4}}}))
        tuning.reload()
        with pytest.raises(ConfigError, match="should be a density in"):
            tuning.crossover(isa, 16)
    finally:
        monkeypatch.delenv("EIE_TUNING")
        tuning.reload()


def test_tune_checks_its_output_first(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--tune", "--tune-out", "/nonexistent/dir/t.json"]) == 2
    assert "should exist and be writable" in capsys.readouterr().err


def test_the_shipped_table_is_valid() -> None:
    for isa in kernels.available_isas():
        assert 0 < tuning.crossover(isa, 16) <= 1 and 0 < tuning.crossover(isa, 64) <= 1
