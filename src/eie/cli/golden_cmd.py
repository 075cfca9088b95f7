"""Regenerate the reference engine's golden file: ``python -m eie.engine.golden [PATH]`` (default
``tests/golden/reference_v2.safetensors``; ``eie.engine.golden``). Errors: one line, exit 2."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path


def main(argv: Sequence[str] | None = None) -> int:
    from eie.engine import golden

    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) > 1 or (args and args[0].startswith("-")):
        print(f"usage: python -m eie.engine.golden [PATH] (default {golden.DEFAULT_PATH})",
              file=sys.stderr)
        return 2
    target = Path(args[0] if args else golden.DEFAULT_PATH)
    if not target.parent.is_dir():
        print(f"golden: error: {target}: its folder should exist", file=sys.stderr)
        return 2
    print(f"wrote {golden.write(target)}")
    return 0
