"""eie.formats, eie.engine and eie.sim import without torch."""

from __future__ import annotations

import subprocess
import sys


def test_core_packages_import_without_torch() -> None:
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import eie, eie.formats, eie.engine, eie.sim, eie.engine.reference\n"
        "import eie.cli.main\n"
        "eie.cli.main.build_parser()\n"
        "assert sys.modules['torch'] is None\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
