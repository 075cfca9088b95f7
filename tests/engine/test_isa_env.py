"""EIE_ISA and EIE_NUM_THREADS select the back-end and thread count of a fresh process."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from eie.engine import available_isas

CODE = (
    "import numpy as np\n"
    "from eie import _core\n"
    "from eie.engine import spmv, kernels\n"
    "from eie.formats import EIEMatrix\n"
    "m = EIEMatrix.from_codes([[1, 0], [0, 2]], np.array([0, .5, -1], np.float32), 2)\n"
    "y = spmv(m, np.array([2.0, 1.0], np.float32))\n"
    "print(_core.active_isa(), kernels.default_threads(), y.tolist())\n"
)


@pytest.mark.parametrize("isa", available_isas())
def test_eie_isa_environment_variable(isa: str) -> None:
    env = {**os.environ, "EIE_ISA": isa, "EIE_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [isa, "1", "[1.0,", "-1.0]"]
