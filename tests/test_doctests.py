"""Every module's docstring examples run and print what they say.

The modules are every ``.py`` file under ``src/eie`` (``__main__`` excepted: importing it runs
the command), found on disk, so a new module is collected without editing a list."""

from __future__ import annotations

import doctest
import importlib
import io
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"


def _module_names() -> list[str]:
    names = []
    for path in sorted((SRC / "eie").rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__main__":
            continue
        if parts[-1] == "__init__":
            parts.pop()
        names.append(".".join(parts))
    return names


MODULES = _module_names()


def test_every_module_is_collected() -> None:
    # Every package on disk has its __init__.py, so every file above is importable by name,
    # and the modules that carry examples are among them.
    packages = {p.parent for p in (SRC / "eie").rglob("*.py")}
    assert all((p / "__init__.py").is_file() for p in packages), sorted(
        str(p) for p in packages if not (p / "__init__.py").is_file())
    assert {"eie", "eie.formats.model", "eie._io", "eie._config", "eie.engine.layout",
            "eie.sim.config"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_module_examples(name: str) -> None:
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    out = io.StringIO()
    for test in finder.find(module, name):
        runner.run(test, out=out.write)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, out.getvalue()
