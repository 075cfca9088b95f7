"""pytest plugin (``-p sanitized_core``): import ``eie._core`` from the AddressSanitizer / UBSan
build named by ``EIE_SANITIZED_CORE`` (the extension file) instead of the installed one, before
anything imports eie. Used by ``make sanitize``; the ASan runtime is LD_PRELOADed."""

from __future__ import annotations

import importlib.util
import os
import sys


def _load() -> None:
    path = os.environ.get("EIE_SANITIZED_CORE")
    if not path:
        raise RuntimeError("EIE_SANITIZED_CORE should name the sanitized _core extension file")
    spec = importlib.util.spec_from_file_location("eie._core", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["eie._core"] = module
    spec.loader.exec_module(module)
    import eie

    eie._core = module  # type: ignore[attr-defined]
    assert eie._core.__file__ == path, eie._core.__file__


_load()


def pytest_report_header() -> str:
    return f"eie._core: {os.environ['EIE_SANITIZED_CORE']} (AddressSanitizer + UBSan)"
