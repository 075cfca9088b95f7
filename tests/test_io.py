"""eie._io: atomic writes and the cache folder that every layer shares."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest

from eie import _io

SRC = Path(__file__).resolve().parents[1] / "src" / "eie"


def test_write_atomic_creates_parents_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "f.bin"
    assert _io.write_atomic(target, b"one") == target
    _io.write_atomic(target, b"two")
    assert target.read_bytes() == b"two"
    assert os.listdir(target.parent) == ["f.bin"]  # no temporary file left
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask


def test_write_atomic_failure_keeps_the_old_file(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")

    def boom(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        _io.write_atomic(target, b"new")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["f.bin"]


def test_cache_dir_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert _io.cache_dir(tmp_path / "given") == tmp_path / "given"
    monkeypatch.setenv("EIE_CACHE_DIR", str(tmp_path / "env"))
    assert _io.cache_dir() == tmp_path / "env"
    monkeypatch.delenv("EIE_CACHE_DIR")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert _io.cache_dir() == tmp_path / "home" / ".cache" / "eie"


def _imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def test_mnist_data_does_not_import_the_training_loop() -> None:
    # compress/train.py imports compress/data.py; the cache folder lives in eie._io so that
    # the data module needs nothing back from train.py (no import circle).
    assert "eie.compress.data" in _imported_modules(SRC / "compress" / "train.py")
    assert not any(n.startswith("eie.compress.train")
                   for n in _imported_modules(SRC / "compress" / "data.py"))


def test_write_atomic_has_one_home() -> None:
    # Every module writes through eie._io; no module defines its own copy of the helper.
    defined = [p.relative_to(SRC).as_posix() for p in SRC.rglob("*.py")
               if any(isinstance(n, ast.FunctionDef) and n.name == "write_atomic"
                      for n in ast.walk(ast.parse(p.read_text())))]
    assert defined == ["_io.py"]
