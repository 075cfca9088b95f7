"""eie.formats, eie.engine and eie.sim import, and the engine runs, without torch."""

from __future__ import annotations

import subprocess
import sys


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
