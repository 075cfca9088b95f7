"""A report document: sections of text, tables and figures, written as HTML, Markdown and JSON.

>>> r = Report("demo", provenance={"command": "eie demo"})
>>> r.add_text("Accuracy agrees on every path.")
>>> r.add_table(Table("Accuracy", ["path", "accuracy (%)"], [["torch", 97.1]]))
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eie._io import write_atomic


@dataclass
class Table:
    """Rows of cells under named columns (put units in the column names)."""

    title: str
    columns: list[str]
    rows: list[list[Any]]
    note: str = ""

    def as_records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


@dataclass
class Figure:
    """A rendered plot: PNG bytes plus a caption saying what it shows and how it was made."""

    name: str
    """File stem, e.g. ``load_efficiency_vs_fifo``."""
    caption: str
    png: bytes

    @classmethod
    def from_matplotlib(cls, name: str, caption: str, fig: Any, dpi: int = 110) -> Figure:
        import matplotlib.pyplot as plt

        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
        plt.close(fig)
        return cls(name, caption, buf.getvalue())


@dataclass
class Report:
    title: str
    provenance: dict[str, Any] = field(default_factory=dict)
    blocks: list[tuple[str, Any]] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    """Machine-readable results, written to report.json."""

    def add_heading(self, text: str) -> None:
        self.blocks.append(("heading", text))

    def add_text(self, text: str) -> None:
        self.blocks.append(("text", text))

    def add_table(self, table: Table) -> None:
        self.blocks.append(("table", table))

    def add_figure(self, figure: Figure) -> None:
        self.blocks.append(("figure", figure))

    @property
    def figures(self) -> list[Figure]:
        return [b for kind, b in self.blocks if kind == "figure"]

    # ------------------------------------------------------------------------------ writers
    def write(self, out_dir: str | Path) -> dict[str, Path]:
        """Write report.html (self-contained), report.md (+ figures/*.png) and report.json."""
        out = Path(out_dir)
        (out / "figures").mkdir(parents=True, exist_ok=True)
        for f in self.figures:
            write_atomic(out / "figures" / f"{f.name}.png", f.png)
        paths = {
            "html": write_atomic(out / "report.html", self.to_html().encode()),
            "markdown": write_atomic(out / "report.md", self.to_markdown().encode()),
            "json": write_atomic(out / "report.json", self.to_json().encode()),
        }
        return paths

    def to_json(self) -> str:
        tables = {b.title: b.as_records() for kind, b in self.blocks if kind == "table"}
        doc = {"title": self.title, "provenance": self.provenance, "results": self.data,
               "tables": tables,
               "figures": [{"name": f.name, "file": f"figures/{f.name}.png",
                            "caption": f.caption} for f in self.figures]}
        return json.dumps(_clean(doc), indent=2)

    def to_markdown(self) -> str:
        lines = [f"# {self.title}", ""]
        for kind, b in self.blocks:
            if kind == "heading":
                lines += [f"## {b}", ""]
            elif kind == "text":
                lines += [b, ""]
            elif kind == "table":
                lines += [f"**{b.title}**", "", "| " + " | ".join(b.columns) + " |",
                          "|" + "---|" * len(b.columns)]
                lines += ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in b.rows]
                lines += (["", f"_{b.note}_"] if b.note else []) + [""]
            elif kind == "figure":
                lines += [f"![{b.name}](figures/{b.name}.png)", "", f"*{b.caption}*", ""]
        lines += ["## Provenance", "", "```json", json.dumps(self.provenance, indent=2), "```", ""]
        return "\n".join(lines)

    def to_html(self) -> str:
        e = html.escape
        parts = [
            "<!DOCTYPE html>", "<html lang='en'><head><meta charset='utf-8'>",
            f"<title>{e(self.title)}</title>", f"<style>{_CSS}</style>", "</head><body>",
            f"<h1>{e(self.title)}</h1>",
        ]
        for kind, b in self.blocks:
            if kind == "heading":
                parts.append(f"<h2>{e(b)}</h2>")
            elif kind == "text":
                parts.append(f"<p>{e(b)}</p>")
            elif kind == "table":
                head = "".join(f"<th>{e(c)}</th>" for c in b.columns)
                body = "".join("<tr>" + "".join(f"<td>{e(_fmt(c))}</td>" for c in row) + "</tr>"
                               for row in b.rows)
                note = f"<p class='note'>{e(b.note)}</p>" if b.note else ""
                parts.append(f"<table><caption>{e(b.title)}</caption><thead><tr>{head}</tr>"
                             f"</thead><tbody>{body}</tbody></table>{note}")
            elif kind == "figure":
                data = base64.b64encode(b.png).decode("ascii")
                parts.append(f"<figure><img alt='{e(b.name)}' src='data:image/png;base64,{data}'>"
                             f"<figcaption>{e(b.caption)}</figcaption></figure>")
        parts.append("<h2>Provenance</h2><pre>" + e(json.dumps(self.provenance, indent=2))
                     + "</pre>")
        parts.append("</body></html>")
        return "\n".join(parts)


def _fmt(v: Any) -> str:
    """Numbers for people: thousands separators, precision by magnitude."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return str(v)
    if isinstance(v, int):
        return f"{v:,}"
    if math.isnan(v) or math.isinf(v):
        return str(v)
    a = abs(v)
    if a >= 1e4:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:,.1f}"
    if a >= 1 or a == 0:
        return f"{v:.2f}"
    if a >= 0.01:
        return f"{v:.3f}"
    return f"{v:.3g}"


def _clean(obj: Any) -> Any:
    """JSON-safe: numpy scalars to Python, NaN/inf to None."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):
        obj = obj.item()
    if isinstance(obj, float) and (math.isnan(obj) or math.isinf(obj)):
        return None
    return obj


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{border-bottom:2px solid #2b6cb0;padding-bottom:.2em}h2{margin-top:1.8em;color:#2b6cb0}
table{border-collapse:collapse;margin:1em 0;font-size:.92em}caption{font-weight:600;text-align:left;
padding:.3em 0}th,td{border:1px solid #ccd;padding:.3em .7em;text-align:right}
th{background:#eef3fb}td:first-child,th:first-child{text-align:left}
figure{margin:1.5em 0}img{max-width:100%;border:1px solid #ddd}
figcaption{font-size:.9em;color:#444;margin-top:.4em}.note{font-size:.85em;color:#555}
pre{background:#f6f8fa;padding:1em;overflow:auto;font-size:.85em}
"""
