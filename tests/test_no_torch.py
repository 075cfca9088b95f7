"""eie.formats, eie.engine and eie.sim import, and the engine runs, without torch; and the
layers' imports point downward only."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import eie


def run_without_torch(code: str) -> str:
    """stdout of ``code`` run in a fresh interpreter where ``import torch`` fails."""
    out = subprocess.run([sys.executable, "-c", "import sys; sys.modules['torch'] = None\n" + code],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_core_packages_import_without_torch() -> None:
    assert run_without_torch(
        "import eie, eie.formats, eie.engine, eie.sim, eie.engine.reference\n"
        "import eie.cli.main\n"
        "eie.cli.main.build_parser()\n"
        "assert sys.modules['torch'] is None\n"
        "print('ok')\n") == "ok"


def test_engine_runs_without_torch() -> None:
    assert run_without_torch(
        "import numpy as np, eie\n"
        "from eie.engine import Engine, spmv\n"
        "from eie.formats import EIEMatrix\n"
        "m = EIEMatrix.from_codes([[1, 0], [0, 2]], np.array([0, .5, -1], np.float32), 2)\n"
        "print(Engine(m)(np.array([2.0, 1.0], np.float32)).tolist())\n") == "[1.0, -1.0]"


# Each layer and the eie packages it must not import (DESIGN.md's layers point downward only):
# formats is the bottom; engine and sim run on formats and the core; bench, report, experiments
# and cli sit above them. An import inside a function counts as much as one at the top; a
# module's ``if __name__ == "__main__":`` shim may call its command line in eie.cli.
FORBIDDEN = {
    "formats": {"engine", "sim", "bench", "report", "experiments", "cli", "compress", "llm"},
    "engine": {"sim", "bench", "report", "experiments", "cli", "compress", "llm"},
    "sim": {"bench", "report", "experiments", "cli", "compress", "llm"},
    "bench": {"report", "experiments", "cli"},
    "report": {"experiments", "cli"},
}


# Known exceptions, each still present (the test says when one can go): the simulator's real
# layers are compressed with compress' k-means.
KNOWN = {"sim/real_layers.py: eie.compress"}


def _is_main_guard(node: ast.stmt) -> bool:
    return (isinstance(node, ast.If) and isinstance(node.test, ast.Compare)
            and isinstance(node.test.left, ast.Name) and node.test.left.id == "__name__")


def upward_imports(root: Path) -> list[str]:
    """``file: package`` for every import of a forbidden eie package under ``root`` (eie/)."""
    bad = []
    for f in sorted(root.rglob("*.py")):
        layer = f.relative_to(root).parts[0]
        forbidden = FORBIDDEN.get(layer, set())
        tree = ast.parse(f.read_text(), str(f))
        shims = {id(n) for top in tree.body if _is_main_guard(top) for n in ast.walk(top)}
        for node in ast.walk(tree):
            if id(node) in shims:
                continue
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            for name in names:
                parts = name.split(".")
                if len(parts) > 1 and parts[0] == "eie" and parts[1] in forbidden:
                    bad.append(f"{f.relative_to(root)}: eie.{parts[1]}")
    return bad


def test_imports_point_downward() -> None:
    found = set(upward_imports(Path(eie.__file__).parent))
    assert found - KNOWN == set()
    assert KNOWN - found == set(), "an exception is no longer needed: remove it from KNOWN"


def test_upward_imports_are_found(tmp_path: Path) -> None:
    (tmp_path / "sim").mkdir()
    (tmp_path / "sim" / "ok.py").write_text("from eie.formats import EIEMatrix\n")
    (tmp_path / "sim" / "up.py").write_text("def f():\n    from eie import bench\n")
    (tmp_path / "sim" / "up2.py").write_text("import eie.bench.timing\n")
    (tmp_path / "sim" / "shim.py").write_text(
        "if __name__ == '__main__':\n    from eie.cli.x import main\n")
    assert upward_imports(tmp_path) == ["sim/up.py: eie.bench", "sim/up2.py: eie.bench"]
