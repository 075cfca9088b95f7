from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from eie.errors import FormatError
from eie.formats import bitpack


@given(st.integers(1, 64), st.integers(0, 300), st.integers(0, 2**31))
def test_pack_unpack_round_trip(bits: int, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    hi = (1 << bits) - 1
    v = rng.integers(0, hi, n, dtype=np.uint64, endpoint=True)
    raw = bitpack.pack(v, bits)
    assert raw.dtype == np.uint8 and raw.size == bitpack.packed_size(n, bits)
    np.testing.assert_array_equal(bitpack.unpack(raw, bits, n), v)


def test_golden_layout() -> None:
    # 4-bit values 1, 2, 3: low nibble first -> bytes 0x21, 0x03
    assert bitpack.pack(np.array([1, 2, 3]), 4).tolist() == [0x21, 0x03]
    assert bitpack.pack(np.array([5]), 3).tolist() == [5]


def test_errors() -> None:
    with pytest.raises(FormatError, match="does not fit"):
        bitpack.pack(np.array([16]), 4)
    with pytest.raises(FormatError, match="truncated"):
        bitpack.unpack(np.zeros(1, np.uint8), 4, 3)
