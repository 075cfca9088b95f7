"""The C++ bindings refuse bad input through one helper (EIE_CHECK in csrc/bindings/bindings.h):
a ValueError whose message says what was expected."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from eie import _core

BINDINGS = Path(__file__).resolve().parents[1] / "csrc" / "bindings"


def test_one_throw_site_for_bad_input() -> None:
    # Bad input is std::invalid_argument; other throws (a test hook's bad_alloc) are not checks.
    throws = {p.name: len(re.findall(r"\bthrow\s+std::invalid_argument\b", p.read_text()))
              for p in sorted(BINDINGS.glob("*.cpp"))}
    assert {name: n for name, n in throws.items() if n} == {"common.cpp": 1}
    assert "#define EIE_CHECK" in (BINDINGS / "bindings.h").read_text()


def test_format_encode_and_llm_bindings_raise_value_error() -> None:
    u8, i64 = np.zeros(3, np.uint8), np.zeros(1, np.int64)
    with pytest.raises(ValueError, match=r"pe_offset should hold num_pes \+ 1 >= 2 values"):
        _core.validate_entries(u8, u8, i64, np.zeros((1, 3), np.int64), 2, 2)
    with pytest.raises(ValueError, match="inconsistent EIE array shapes"):
        _core.reencode(u8, np.zeros(2, np.uint8), np.zeros(2, np.int64),
                       np.zeros((1, 3), np.int64), 2, 2, 2, 4)
    x = np.zeros(4, np.float32)
    with pytest.raises(ValueError, match="w should match x"):
        _core.kmeans1d_segments(x, np.zeros(3, np.float32), np.array([0, 4], np.int64), 2,
                                np.zeros((1, 2), np.float32), np.zeros(4, np.uint8))
    with pytest.raises(ValueError, match=r"offsets should end at len\(x\) = 4"):
        _core.kmeans1d_segments(x, x, np.array([0, 3], np.int64), 2,
                                np.zeros((1, 2), np.float32), np.zeros(4, np.uint8))


def test_precision_query_bindings_refuse_bad_names() -> None:
    """The precision entry points (uses_int8, uses_bf16_dot, mv_f32's precision) check every
    name they are given: one-line ValueErrors, never a silent default."""
    lay = _core.build_rowwise_layout(np.zeros((4, 8), np.uint8), np.ones((1, 16), np.float32), 0)
    with pytest.raises(ValueError, match="precision should be 'fp32', 'bf16' or 'int8'"):
        lay.uses_int8("", "int4")
    with pytest.raises(ValueError, match="dtype should be 'float32'"):
        lay.uses_bf16_dot(2, "float64", "", "bf16")
    with pytest.raises(ValueError, match="precision should be"):
        lay.uses_bf16_dot(2, "float32", "", "")
    with pytest.raises(ValueError, match="unknown ISA .avx1024."):
        lay.uses_int8("avx1024", "int8")
    with pytest.raises(ValueError, match="precision should be"):
        lay.mv_f32(np.ones(8, np.float32), None, False, 1, "", "fp8")
    assert not lay.uses_int8("scalar", "int8") and not lay.uses_int8("", "fp32")
    assert not lay.uses_bf16_dot(1, "float32", "", "bf16")  # batch 1 never
