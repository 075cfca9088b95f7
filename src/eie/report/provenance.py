"""What produced a result: command, versions, machine. Goes into every report and caption."""

from __future__ import annotations

import os
import platform
import sys
from typing import Any

from eie.bench.machine import cpu_name


def provenance(command: list[str] | None = None) -> dict[str, Any]:
    """Command line, versions of eie and its main libraries, CPU and ISA the core uses."""
    import numpy as np

    from eie import _core
    from eie._version import __version__

    versions = {"eie": __version__, "python": platform.python_version(), "numpy": np.__version__}
    torch = sys.modules.get("torch")
    if torch is not None:
        versions["torch"] = str(getattr(torch, "__version__", "?"))
    try:
        import matplotlib

        versions["matplotlib"] = matplotlib.__version__
    except ImportError:
        pass
    return {
        "command": " ".join(command if command is not None else ["eie", *sys.argv[1:]]),
        "versions": versions,
        "machine": {"cpu": cpu_name(), "cores": os.cpu_count(), "isa": _core.active_isa(),
                    "platform": platform.platform()},
    }
