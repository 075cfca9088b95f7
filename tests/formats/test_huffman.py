"""Canonical Huffman coding: golden codes, round trips, Kraft, optimality, layer storage."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import eie
from eie.errors import FormatError
from eie.formats import EIEMatrix
from eie.formats.huffman import (
    MAX_CODE_LENGTH,
    HuffmanCode,
    canonical_codewords,
    code_lengths,
    huffman_storage,
    kraft_sum,
)

SETTINGS = settings(derandomize=True, max_examples=60, deadline=None)


def test_golden_lengths_and_canonical_words() -> None:
    lengths = code_lengths([5, 1, 1, 2])
    assert lengths.tolist() == [1, 3, 3, 2]
    words = canonical_codewords(lengths)
    # sorted by (length, symbol): 0 -> 0, 3 -> 10, 1 -> 110, 2 -> 111
    assert [format(int(w), f"0{int(n)}b") for w, n in zip(words, lengths, strict=True)] == \
        ["0", "110", "111", "10"]


def test_golden_bitstream() -> None:
    hc = HuffmanCode.from_counts([5, 1, 1, 2])
    data, nbits = hc.encode([0, 3, 1, 2, 0])  # 0 10 110 111 0 -> 0101 1011 10..
    assert nbits == 10
    assert data.tolist() == [0b01011011, 0b10000000]
    assert hc.decode(data, nbits, 5).tolist() == [0, 3, 1, 2, 0]


def test_unused_symbols_and_single_symbol() -> None:
    assert code_lengths([0, 7, 0]).tolist() == [0, 1, 0]
    hc = HuffmanCode.from_counts([0, 7, 0])
    data, n = hc.encode([1, 1, 1])
    assert n == 3 and hc.decode(data, n, 3).tolist() == [1, 1, 1]
    with pytest.raises(FormatError, match="no code word"):
        hc.encode([0])
    assert code_lengths([0, 0]).tolist() == [0, 0]


def test_length_cap_on_fibonacci_counts() -> None:
    fib = [1, 1]
    while len(fib) < 30:
        fib.append(fib[-1] + fib[-2])
    uncapped = code_lengths(fib, max_length=64)
    assert uncapped.max() == 29  # the optimal code is a chain
    capped = code_lengths(fib)
    assert capped.max() <= MAX_CODE_LENGTH
    assert kraft_sum(capped) <= 1.0
    hc = HuffmanCode(capped)
    values = np.repeat(np.arange(30), 3)
    data, n = hc.encode(values)
    assert np.array_equal(hc.decode(data, n, len(values)), values)


@SETTINGS
@given(st.lists(st.integers(0, 31), min_size=0, max_size=400))
def test_round_trip_and_kraft(values: list[int]) -> None:
    v = np.asarray(values, np.int64)
    hc = HuffmanCode.from_values(v, 32)
    data, n = hc.encode(v)
    assert n == hc.encoded_bits(v)
    assert np.array_equal(hc.decode(data, n, len(v)), v)
    k = kraft_sum(hc.lengths)
    assert k <= 1.0 + 1e-12
    if len(set(values)) >= 2:
        assert k == pytest.approx(1.0)  # Huffman codes are complete


@SETTINGS
@given(st.lists(st.integers(1, 1000), min_size=2, max_size=40))
def test_optimal_within_one_bit_of_entropy(counts: list[int]) -> None:
    c = np.asarray(counts, np.float64)
    lengths = code_lengths(counts, max_length=64)
    p = c / c.sum()
    entropy = float(-(p * np.log2(p)).sum())
    mean_len = float((p * lengths).sum())
    assert entropy - 1e-9 <= mean_len < entropy + 1


def test_decode_rejects_truncated_streams() -> None:
    hc = HuffmanCode.from_counts([5, 1, 1, 2])
    data, n = hc.encode([1, 2, 1, 2])
    with pytest.raises(FormatError):
        hc.decode(data, n - 2, 4)
    with pytest.raises(FormatError):
        hc.decode(data, 100, 4)


def test_layer_storage_golden_and_ratio() -> None:
    m = EIEMatrix.from_codes(np.array([[1, 1, 1, 2]]), np.array([0, 1, 2], np.float32), 1)
    s = huffman_storage(m)
    assert (s.codes_bits, s.before.codes_bits) == (4, 16)
    assert s.rel_index_bits == 4  # one index value (0) -> 1-bit code each
    assert s.tables_bits == (16 + 16) * 5
    assert s.total_bits == (s.codes_bits + s.rel_index_bits + s.fillers_bits + s.tables_bits
                            + s.before.pointers_bits + s.before.codebook_bits)
    assert s.compression_ratio == pytest.approx(4 * 32 / s.total_bits)
    assert s.compression_ratio_no_huffman == pytest.approx(m.storage().compression_ratio)


def test_layer_storage_counts_fillers_and_adds() -> None:
    rng = np.random.default_rng(0)
    codes = (rng.random((200, 60)) < 0.03) * rng.integers(1, 16, (200, 60))
    m = EIEMatrix.from_codes(codes, np.linspace(0, 1, 16, dtype=np.float32), 1, index_bits=3)
    s = huffman_storage(m)
    assert m.num_fillers > 0 and s.fillers_bits > 0
    # A Huffman code is never longer in total than the fixed-width code of the same streams.
    assert s.codes_bits + s.rel_index_bits + s.fillers_bits <= (
        s.before.codes_bits + s.before.rel_index_bits + s.before.fillers_bits)
    assert s.fillers_bits < s.before.fillers_bits  # fillers dominate here: short code words
    total = s + s
    assert total.total_bits == 2 * s.total_bits
    # The streams really decode: encode the whole codes stream with the layer's code.
    from eie.formats.huffman import layer_codes

    hc, hr = layer_codes(m)
    for code, stream in ((hc, m.codes), (hr, m.rel_index)):
        data, n = code.encode(stream)
        assert np.array_equal(code.decode(data, n, len(stream)), stream)
    assert hc.encoded_bits(m.codes) == s.codes_bits + int(hc.lengths[0]) * m.num_fillers


def test_huffman_module_does_not_import_torch() -> None:
    code = ("import sys; sys.modules['torch'] = None; import eie.formats.huffman as h; "
            "print(h.code_lengths([1, 2]).tolist())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[1, 1]"
    assert math.isfinite(1.0)


def _skewed_model() -> eie.Model:
    rng = np.random.default_rng(3)
    codes = (rng.random((64, 480)) < 0.1) * rng.choice([1, 1, 1, 1, 2, 3, 15], size=(64, 480))
    m = EIEMatrix.from_codes(codes, np.linspace(0, 1, 16, dtype=np.float32), 4, index_bits=4)
    empty = EIEMatrix.from_codes(np.zeros((3, 5), np.uint8), np.array([0, 1.0], np.float32), 2)
    return eie.Model((eie.Layer("a", m, np.arange(64, dtype=np.float32), "relu"),
                      eie.Layer("b", empty)))


def test_container_huffman_round_trip_and_smaller(tmp_path: Path) -> None:
    model = _skewed_model()
    packed = eie.save(tmp_path / "p.eie", model)
    coded = eie.save(tmp_path / "h.eie", model, huffman=True)
    assert eie.load(coded).equals(model)
    assert coded.stat().st_size < packed.stat().st_size
    header = json.loads(json.loads(coded.read_bytes()[8:8 + int.from_bytes(
        coded.read_bytes()[:8], "little")])["__metadata__"]["eie"])
    assert header["layers"][0]["streams"]["codes"]["encoding"] == "huffman"
    assert header["layers"][0]["streams"]["col_ptr"]["encoding"] == "packed"


def test_container_rejects_bad_huffman_lengths(tmp_path: Path) -> None:
    from eie.formats import container

    model = _skewed_model()
    data = eie.save(tmp_path / "h.eie", model, huffman=True).read_bytes()
    n = int.from_bytes(data[:8], "little")
    st_header = json.loads(data[8:8 + n])
    header = json.loads(st_header["__metadata__"]["eie"])
    header["layers"][0]["streams"]["codes"]["lengths"] = [1] * 16  # Kraft sum 8 > 1
    st_header["__metadata__"]["eie"] = json.dumps(header)
    new_header = json.dumps(st_header).encode()
    new_header += b" " * (-len(new_header) % 8)
    bad = len(new_header).to_bytes(8, "little") + new_header + data[8 + n:]
    with pytest.raises(FormatError, match="Huffman code lengths"):
        container.loads(bad)
