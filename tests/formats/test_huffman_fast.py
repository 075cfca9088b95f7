"""The C++ table-driven Huffman decoder against the reference (``HuffmanCode.decode``): golden
streams, hypothesis round trips and arbitrary bytes, every Huffman stream of the fuzz corpus and
of mutated files, the checks made before any output is allocated, and its memory bound."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import eie._core as _core
from eie.errors import FormatError
from eie.formats.huffman import MAX_CODE_LENGTH, HuffmanCode, code_lengths, kraft_sum

SETTINGS = settings(derandomize=True, max_examples=150, deadline=None)
FUZZ = Path(__file__).resolve().parents[1] / "fuzz"


def outcome(fn, *args):  # type: ignore[no-untyped-def]
    """("ok", symbols) or ("error", message) of one decoder."""
    try:
        return "ok", np.asarray(fn(*args), np.int64).tolist()
    except FormatError as e:
        return "error", str(e)


def both(code: HuffmanCode, data: np.ndarray, nbits: int, count: int):  # type: ignore[no-untyped-def]
    ref = outcome(code.decode, data, nbits, count)
    fast = outcome(code.decode_fast, data, nbits, count)
    assert fast == ref
    return fast


def test_golden_stream() -> None:
    hc = HuffmanCode.from_counts([5, 1, 1, 2])  # 0 -> 0, 3 -> 10, 1 -> 110, 2 -> 111
    data = np.array([0b01011011, 0b10000000], np.uint8)
    out = hc.decode_fast(data, 10, 5)
    assert out.dtype == np.uint8 and out.tolist() == [0, 3, 1, 2, 0]
    assert hc.decode_fast(data, 10, 0).tolist() == []
    # the first four symbols end at bit 9: no fifth one in 9 bits, and in 8 the fourth's word
    # (bits 6..8) runs past the end
    assert both(hc, data, 9, 5) == ("error", "Huffman stream ended after 4 of 5 symbols")
    assert both(hc, data, 8, 4) == ("error", "last Huffman code word runs past the end of the "
                                    "stream")


def test_single_symbol_and_incomplete_codes() -> None:
    one = HuffmanCode(np.array([0, 1, 0], np.int64))  # symbol 1 = "0"; "1" is no code word
    assert both(one, np.array([0x00], np.uint8), 8, 8) == ("ok", [1] * 8)
    assert both(one, np.array([0x20], np.uint8), 8, 8) == ("error",
                                                           "invalid Huffman code word at bit 2")
    # bits past nbits read as zeros, whatever the byte holds there
    assert both(one, np.array([0x0F], np.uint8), 4, 4) == ("ok", [1] * 4)


def test_longest_codes_at_the_end_of_the_stream() -> None:
    # 16-bit code words, the stream's last one ending exactly on its last bit
    lengths = code_lengths([2**k for k in range(17)][::-1])
    assert int(lengths.max()) == MAX_CODE_LENGTH
    hc = HuffmanCode(lengths)
    values = np.array([16, 15, 0, 16, 15], np.int64)
    data, nbits = hc.encode(values)
    assert both(hc, data, nbits, 5) == ("ok", values.tolist())
    assert both(hc, data, nbits - 1, 5)[0] == "error"


@st.composite
def codes_and_values(draw):  # type: ignore[no-untyped-def]
    alphabet = draw(st.integers(1, 256))
    counts = draw(st.lists(st.integers(0, 1000), min_size=alphabet, max_size=alphabet))
    if not any(counts):
        counts[0] = 1
    used = [s for s, c in enumerate(counts) if c]
    values = draw(st.lists(st.sampled_from(used), max_size=300))
    return HuffmanCode.from_counts(counts), np.array(values, np.int64)


@SETTINGS
@given(codes_and_values())
def test_round_trip_agrees_with_the_reference(cv) -> None:  # type: ignore[no-untyped-def]
    code, values = cv
    data, nbits = code.encode(values)
    assert both(code, data, nbits, len(values)) == ("ok", values.tolist())


@SETTINGS
@given(codes_and_values(), st.binary(max_size=200), st.integers(0, 1), st.data())
def test_arbitrary_bytes_agree_with_the_reference(cv, raw, drop, data) -> None:  # type: ignore[no-untyped-def]
    """Any bytes, any bit count and symbol count the sizes allow, complete and incomplete codes
    (one used symbol dropped): same symbols or the same error."""
    code, _ = cv
    lengths = code.lengths.copy()
    if drop and np.count_nonzero(lengths) > 1:
        lengths[int(np.flatnonzero(lengths)[0])] = 0
        code = HuffmanCode(lengths)
    buf = np.frombuffer(raw, np.uint8)
    nbits = data.draw(st.integers(0, buf.size * 8))
    count = data.draw(st.integers(0, nbits))
    both(code, buf, nbits, count)


def huffman_streams(blob: bytes):  # type: ignore[no-untyped-def]
    """(code, raw, nbits, count) of every Huffman stream of a file whose header parses."""
    sys.path.insert(0, str(FUZZ))
    from eiefile import EieFile

    try:
        f = EieFile.parse(blob)
        layers = list(f.header["layers"])
    except Exception:
        return
    for i, lh in enumerate(layers):
        streams = lh.get("streams", {}) if isinstance(lh, dict) else {}
        for key, info in (streams.items() if isinstance(streams, dict) else ()):
            if not isinstance(info, dict) or info.get("encoding") != "huffman":
                continue
            lengths, nbits, count = info.get("lengths"), info.get("nbits"), info.get("count")
            name = f"{i}.{key}"
            if (name not in f.tensors or not isinstance(lengths, list)
                    or not 1 <= len(lengths) <= 256
                    or not all(type(v) is int and 0 <= v <= MAX_CODE_LENGTH for v in lengths)
                    or kraft_sum(lengths) > 1 or not any(lengths)):
                continue
            raw = np.frombuffer(f.tensors[name][2], np.uint8)
            if type(nbits) is not int or type(count) is not int or \
                    not 0 <= count <= nbits <= raw.size * 8:
                continue
            yield HuffmanCode(np.array(lengths, np.int64)), raw, nbits, count


def test_every_huffman_stream_of_the_corpus_and_of_mutated_files() -> None:
    """The fuzz corpus plus mutated Huffman files (the fuzzer's own seeds and mutations): both
    decoders give the same symbols or the same error on every stream they hold."""
    import random

    sys.path.insert(0, str(FUZZ))
    import mutate

    blobs = [p.read_bytes() for p in sorted((FUZZ / "corpus").glob("*.eie"))]
    rng = random.Random(11)
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        seeds = [s for s in mutate.seed_models(rng, Path(tmp)) if b'"huffman' in s]
        assert seeds
        blobs += seeds + [mutate.mutate_eie(rng.choice(seeds), rng) for _ in range(400)]
    checked = 0
    for blob in blobs:
        for code, raw, nbits, count in huffman_streams(blob):
            both(code, raw, nbits, count)
            checked += 1
    assert checked >= 200


@pytest.mark.parametrize(("lengths", "message"), [
    ([17, 1], "invalid|0..16"),
    ([1, 1, 1], "prefix code"),
    ([0, 0, 0, 0], "empty Huffman code"),
    (list(range(1, 17)) + [16] * 241, "1..256"),
])
def test_bad_codes_are_refused_before_decoding(lengths: list[int], message: str) -> None:
    code = HuffmanCode(np.array(lengths, np.int64))
    with pytest.raises(FormatError, match=message):
        code.decode_fast(np.zeros(4, np.uint8), 32, 4)


def test_sizes_are_checked_before_the_output_is_allocated() -> None:
    code = HuffmanCode(np.array([1, 1], np.int64))
    with pytest.raises(FormatError, match="stream has 32 bits, header says 33"):
        code.decode_fast(np.zeros(4, np.uint8), 33, 4)
    # a count of 2**62 would allocate 4 EiB: refused from the sizes
    with pytest.raises(FormatError, match="cannot fit in 32 Huffman bits"):
        code.decode_fast(np.zeros(4, np.uint8), 32, 2**62)
    with pytest.raises(FormatError, match="header says -1"):
        code.decode_fast(np.zeros(4, np.uint8), -1, 0)


def test_the_core_checks_everything_itself() -> None:
    """The binding, called directly with sizes that the Python wrapper would refuse: ValueError,
    nothing read or written out of bounds."""
    lengths = np.array([1, 1], np.uint8)
    data = np.zeros(2, np.uint8)
    for nbits, out_len in [(17, 2), (-1, 0), (8, 9), (2**62, 4)]:
        with pytest.raises(ValueError):
            _core.huffman_decode(data, nbits, lengths, np.zeros(out_len, np.uint8))
    for bad in (np.array([17, 1], np.uint8), np.array([1, 1, 1], np.uint8),
                np.zeros(3, np.uint8), np.ones(257, np.uint8), np.zeros(0, np.uint8)):
        with pytest.raises(ValueError):
            _core.huffman_decode(data, 16, bad, np.zeros(4, np.uint8))
    with pytest.raises(TypeError):  # a wrong dtype is not converted
        _core.huffman_decode(data.astype(np.int64), 16, lengths, np.zeros(4, np.uint8))


def test_peak_memory_is_the_output_plus_a_small_table() -> None:
    """A 2 MiB stream of 16,777,216 one-bit code words: the decoder's peak RSS growth is the
    16 MiB output plus at most 4 MiB (the reference takes ~500 bytes per stream byte)."""
    script = textwrap.dedent("""
        import json, numpy as np
        from eie.formats.huffman import HuffmanCode
        def hwm():
            for line in open('/proc/self/status'):
                if line.startswith('VmHWM:'):
                    return int(line.split()[1]) * 1024
        data = np.random.default_rng(0).integers(0, 256, 2 << 20).astype(np.uint8)
        code = HuffmanCode(np.array([1, 1], np.int64))
        code.decode_fast(data[:16], 128, 128)
        before = hwm()
        out = code.decode_fast(data, data.size * 8, data.size * 8)
        print(json.dumps({"grow": hwm() - before, "n": int(out.size),
                          "first": np.unpackbits(data[:2]).tolist() == out[:16].tolist()}))
    """)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    res = json.loads(r.stdout)
    assert res["n"] == 16 << 20 and res["first"]
    assert res["grow"] <= (16 << 20) + (4 << 20), res
