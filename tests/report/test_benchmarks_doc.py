"""``eie bench --doc PATH --quick``: the reference document's generator runs every group end to
end through ``eie.bench`` and writes the document atomically, labelled as a quick run."""

from __future__ import annotations

from pathlib import Path

import pytest

from eie.cli.main import main
from eie.formats.benchmark_layers import BENCHMARKS


def test_quick_document_has_every_section(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "benchmarks.md"
    assert main(["bench", "--doc", str(out), "--quick"]) == 0
    assert capsys.readouterr().out.startswith(f"wrote {out}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["benchmarks.md"]  # no temporaries
    text = out.read_text()
    heads = [ln for ln in text.splitlines() if ln.startswith("## ")]
    assert heads == ["## Machine", "## Method", "## The paper's nine benchmark layers",
                     "## Goal cases", "## Weight-density sweep (512x512, dense activations, "
                     "CPU µs)", "## Per-call overheads (64x64 layer, 1 thread, CPU µs)",
                     "## Encoder (calling-thread CPU time, best of 3; millions of weights per "
                     "second)", "## 1 vs 2 threads (wall µs, interleaved)",
                     "## LeNet-300-100 per image", "## Simulator speed"]
    assert "> **Quick run (`--quick`)" in text
    assert f"| command | `eie bench --doc {out} --quick` |" in text
    assert "`eie bench --doc docs/benchmarks.md`" in text and "benchmarks-log.md" in text
    assert "| alex6 b1 | " in text and "| SmolLM2 576x1536 per-row b8, bf16 in | " in text
    assert "| EIELinear | " in text and "| 4/5/6 | " in text
    # the simulator's nine layers at 64 PEs: their cycle counts are deterministic
    assert all(f"\n{name:8s} " in text for name in BENCHMARKS)
    assert "total: 6,129,408 PE-cycles" in text


def test_refused_before_any_work(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--doc", str(tmp_path / "no" / "b.md"), "--quick"]) == 2
    err = capsys.readouterr().err
    assert "its folder should exist" in err and err.count("\n") == 1
    assert not (tmp_path / "no").exists()


@pytest.mark.parametrize("extra", [["--json"], ["--markdown"], ["--groups", "layer"], ["--tune"]])
def test_doc_takes_no_other_output_options(tmp_path: Path, extra: list[str],
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--doc", str(tmp_path / "b.md"), "--quick", *extra]) == 2
    err = capsys.readouterr().err
    assert "--doc runs every group" in err or "--tune and --doc" in err
    assert list(tmp_path.iterdir()) == []
