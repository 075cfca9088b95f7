"""Reports are self-contained: images embedded, nothing fetched from a network."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from eie.report import Figure, Report, Table, provenance


def test_report_writes_html_markdown_json(tmp_path: Path) -> None:
    fig, ax = plt.subplots()
    ax.plot([1, 2, 4], [0.5, 0.7, 0.9])
    ax.set_xlabel("FIFO depth (entries)")
    ax.set_ylabel("load efficiency (%)")
    r = Report("test report", provenance=provenance(["eie", "test"]))
    r.add_heading("Section")
    r.add_text("Some <text> & symbols.")
    r.add_table(Table("numbers", ["name", "value (us)"], [["a", 1.5], ["b", 12345678.0]],
                      note="a note"))
    r.add_figure(Figure.from_matplotlib("curve", "A curve. Produced by `eie test`.", fig))
    r.data["answer"] = 42
    paths = r.write(tmp_path / "out")
    text = paths["html"].read_text()
    assert "&lt;text&gt; &amp; symbols" in text
    imgs = re.findall(r"src='data:image/png;base64,([^']+)'", text)
    assert len(imgs) == 1 and base64.b64decode(imgs[0]).startswith(b"\x89PNG")
    assert not re.search(r"(src|href)=['\"]?(https?:)?//", text)
    assert "http://" not in text and "https://" not in text
    md = paths["markdown"].read_text()
    assert "![curve](figures/curve.png)" in md and (tmp_path / "out/figures/curve.png").is_file()
    assert "| a | 1.50 |" in md and "| b | 12,345,678 |" in md
    doc = json.loads(paths["json"].read_text())
    assert doc["results"]["answer"] == 42
    assert doc["tables"]["numbers"][1] == {"name": "b", "value (us)": 12345678.0}
    assert doc["provenance"]["command"] == "eie test"
    assert doc["provenance"]["versions"]["eie"]
