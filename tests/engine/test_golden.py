"""The reference engine against its versioned golden vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from eie.engine import golden
from eie.errors import FormatError

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "reference_v1.safetensors"


def test_reference_matches_golden_vectors() -> None:
    bad = golden.check(GOLDEN)
    assert not bad, (f"reference engine outputs changed for {bad}; if the change is intended, "
                     f"regenerate with `{golden.REGENERATE}`")


def test_golden_cases_cover_the_awkward_ones() -> None:
    stored = golden.read(GOLDEN)
    assert stored["tiny_1x1.codes"].shape == (1, 1)
    sat = stored["saturating.fixed_linear"]
    assert sat.dtype == np.int16 and (sat.max() == 32767 or sat.min() == -32768)
    assert np.all(stored["odd_33x31.fixed_relu"] >= 0)


def test_wrong_version_is_refused(tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    p = tmp_path / "g.safetensors"
    save_file({"a": np.zeros(1, np.float32)}, str(p), metadata={"magic": golden.MAGIC,
                                                                  "version": "0"})
    with pytest.raises(FormatError, match="regenerate"):
        golden.read(p)
