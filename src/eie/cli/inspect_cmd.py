"""``eie inspect FILE``: shape, PEs, density and the storage breakdown of every layer."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

HELP = "Show a .eie file's layers: shape, PEs, density and storage per category (bits, bytes)."


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", type=Path, help="a .eie model file (or an EIE simulator folder)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of tables")


def inspect_model(path: Path) -> dict[str, Any]:
    """Everything ``eie inspect`` shows, as a JSON-ready dict."""
    import eie
    from eie.formats import eiesim
    from eie.formats.storage import CATEGORIES

    if path.is_dir():
        matrix, bias, _ = eiesim.load(path)
        model = eie.Model((eie.Layer(path.name, matrix, bias, "relu"),),
                          source=f"EIE simulator folder {path}")
    else:
        model = eie.load(path)
    layers = []
    for layer in model.layers:
        m, st = layer.matrix, layer.matrix.storage()
        layers.append({
            "name": layer.name, "shape": list(m.shape), "num_pes": m.num_pes,
            "density": m.density, "nnz": m.nnz, "entries": m.num_entries,
            "fillers": m.num_fillers, "index_bits": m.index_bits, "weight_bits": m.weight_bits,
            "activation": layer.activation, "has_bias": layer.bias is not None,
            "kind": layer.attrs.get("kind", "linear"), "then": layer.attrs.get("then"),
            "storage_bits": {c: st.bits(c) for c in CATEGORIES},
            "total_bits": st.total_bits, "total_bytes": st.total_bytes,
            "dense_fp32_bytes": st.dense_fp32_bits / 8,
            "compression_ratio": st.compression_ratio,
        })
    total = model.storage()
    return {
        "file": str(path), "source": model.source, "creator": model.creator,
        "file_bytes": path.stat().st_size if path.is_file() else None,
        "layers": layers, "graph": model.metadata.get("graph"),
        "total": {"storage_bits": {c: total.bits(c) for c in CATEGORIES},
                  "total_bits": total.total_bits, "total_bytes": total.total_bytes,
                  "dense_fp32_bytes": total.dense_fp32_bits / 8,
                  "nnz": total.nnz, "fillers": total.num_fillers,
                  "compression_ratio": total.compression_ratio},
    }


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from eie.formats.storage import CATEGORIES

    info = inspect_model(args.file)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    console = Console()
    console.print(f"[bold]{info['file']}[/]  {info['source']}  (written by {info['creator']})")
    t = Table(title="layers")
    for col in ("layer", "kind", "shape", "PEs", "density", "nnz", "fillers", "bits w/i", "act"):
        t.add_column(col, justify="right" if col not in ("layer", "kind", "act") else "left")
    for L in info["layers"]:
        t.add_row(L["name"], L["kind"], "x".join(map(str, L["shape"])), str(L["num_pes"]),
                  f"{L['density']:.2%}", f"{L['nnz']:,}", f"{L['fillers']:,}",
                  f"{L['weight_bits']}/{L['index_bits']}", str(L["activation"]))
    console.print(t)
    g = info.get("graph")
    if isinstance(g, dict):
        console.print("graph: a chain the engine runs end to end" if g.get("chain") else
                      f"graph: not a chain ({g.get('breaks')}); eie run / Engine refuse it, "
                      "eie simulate --layer and eie.engine.torch.swap run it")
    rows = [(L["name"], L) for L in info["layers"]]
    if len(rows) > 1:
        rows.append(("TOTAL", info["total"]))
    for name, L in rows:
        s = Table(title=f"storage of {name}: {L['compression_ratio']:.1f}x smaller than dense fp32")
        for col in ("category", "bits", "bytes", "share"):
            s.add_column(col, justify="left" if col == "category" else "right")
        for c in CATEGORIES:
            bits = L["storage_bits"][c]
            s.add_row(c, f"{bits:,}", f"{bits / 8:,.1f}", f"{bits / max(L['total_bits'], 1):.1%}")
        s.add_row("total", f"{L['total_bits']:,}", f"{L['total_bits'] / 8:,.1f}", "100.0%",
                  style="bold")
        s.add_row("dense fp32", f"{int(L['dense_fp32_bytes'] * 8):,}",
                  f"{L['dense_fp32_bytes']:,.1f}", "")
        console.print(s)
    if info["file_bytes"] is not None:
        console.print(f"file size on disk: {info['file_bytes']:,} bytes")
    return 0
