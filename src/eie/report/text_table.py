"""Plain-text tables for the simulator's study commands (``python -m eie.cli.sim_studies``):
one column spec, header and rows aligned alike.

>>> print(text_table([("layer", 6, "s", "name"), ("cycles", 7, "d", "cycles")],
...                  [{"name": "fc8", "cycles": 7795}]))
layer   cycles
fc8       7795
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

Column = tuple[str, int, str, "str | Callable[[Mapping[str, Any]], Any]"]
"""(header, width, format spec, record key or function of the record). Text ("s") columns are
left-aligned, numbers right-aligned."""


def text_table(columns: Sequence[Column], records: Sequence[Mapping[str, Any]]) -> str:
    def cell(value: Any, width: int, spec: str) -> str:
        align = "<" if spec == "s" else ">"
        return f"{format(value, spec):{align}{width}s}"

    lines = [" ".join(f"{h:{'<' if spec == 's' else '>'}{w}s}" for h, w, spec, _ in columns)]
    for r in records:
        lines.append(" ".join(cell(get(r) if callable(get) else r[get], w, spec)
                              for _, w, spec, get in columns))
    return "\n".join(line.rstrip() for line in lines)
