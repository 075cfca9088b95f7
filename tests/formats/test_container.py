"""The .eie container: exact round trips, atomic writes, and clear errors on bad files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import eie
from eie.errors import FormatError
from eie.formats import container


def make_model(seed: int = 0, index_bits: int = 4) -> eie.Model:
    rng = np.random.default_rng(seed)
    layers = []
    shapes = [(37, 20), (11, 37), (5, 11)]
    for i, (r, c) in enumerate(shapes):
        codes = np.where(rng.random((r, c)) < 0.3, rng.integers(1, 16, (r, c)), 0)
        cb = np.concatenate(([0.0], rng.normal(size=15))).astype(np.float32)
        m = eie.EIEMatrix.from_codes(codes, cb, num_pes=4, index_bits=index_bits)
        bias = rng.normal(size=r).astype(np.float32) if i != 1 else None
        act = "relu" if i < len(shapes) - 1 else None
        layers.append(eie.Layer(f"fc{i + 1}", m, bias, act, attrs={"kind": "linear"}))
    return eie.Model(tuple(layers), source="test model", metadata={"seed": seed, "acc": 0.97})


def test_round_trip_is_exact(tmp_path: Path) -> None:
    model = make_model()
    path = eie.save(tmp_path / "m.eie", model)
    back = eie.load(path)
    assert back.equals(model)
    assert back.source == "test model" and back.metadata == {"seed": 0, "acc": 0.97}
    assert back.creator.startswith("eie ")
    assert back.is_sequential
    assert back.layers[1].bias is None
    assert back.layers[0].attrs == {"kind": "linear"}


@given(st.integers(0, 10_000), st.integers(2, 8))
def test_round_trip_property(seed: int, index_bits: int) -> None:
    model = make_model(seed, index_bits)
    assert container.loads(_to_bytes(model)).equals(model)


def _to_bytes(model: eie.Model) -> bytes:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        return eie.save(Path(d) / "m.eie", model).read_bytes()


def test_payload_is_what_storage_counts(tmp_path: Path) -> None:
    """Codes and indices are bit-packed: the file is the storage breakdown plus small overhead."""
    rng = np.random.default_rng(1)
    codes = np.where(rng.random((512, 512)) < 0.1, rng.integers(1, 16, (512, 512)), 0)
    m = eie.EIEMatrix.from_codes(codes, np.arange(16, dtype=np.float32), num_pes=8)
    size = eie.save(tmp_path / "m.eie", m).stat().st_size
    assert m.storage().total_bytes < size < m.storage().total_bytes + 2048


def test_truncated_files_raise_format_error(tmp_path: Path) -> None:
    data = _to_bytes(make_model())
    for n in (0, 5, 8, 100, len(data) // 2, len(data) - 1):
        p = tmp_path / f"t{n}.eie"
        p.write_bytes(data[:n])
        with pytest.raises(FormatError):
            eie.load(p)


def test_corrupted_payload_fails_crc(tmp_path: Path) -> None:
    data = bytearray(_to_bytes(make_model()))
    header_len = int.from_bytes(data[:8], "little")
    payload_start = 8 + header_len
    for offset in (payload_start, payload_start + 7, len(data) - 1):
        bad = bytearray(data)
        bad[offset] ^= 0x40
        p = tmp_path / "bad.eie"
        p.write_bytes(bytes(bad))
        with pytest.raises(FormatError, match="CRC32|corrupted|inconsistent"):
            eie.load(p)


def test_corrupted_header_raises(tmp_path: Path) -> None:
    data = bytearray(_to_bytes(make_model()))
    data[10] = ord("#")
    p = tmp_path / "bad.eie"
    p.write_bytes(bytes(data))
    with pytest.raises(FormatError):
        eie.load(p)


def _rewrite_header(data: bytes, edit) -> bytes:
    n = int.from_bytes(data[:8], "little")
    st_header = json.loads(data[8:8 + n])
    h = json.loads(st_header["__metadata__"]["eie"])
    edit(h)
    st_header["__metadata__"]["eie"] = json.dumps(h)
    new = json.dumps(st_header).encode()
    new += b" " * ((8 - len(new) % 8) % 8)
    return len(new).to_bytes(8, "little") + new + data[8 + n:]


@pytest.mark.parametrize(("edit", "message"), [
    (lambda h: h.update(format_version=99), "version 99 is not supported"),
    (lambda h: h.update(magic="other"), "not a .eie file"),
    (lambda h: h["layers"][0].update(num_entries=3), "values, expected|should be"),
    (lambda h: h["layers"][0].update(shape=[37, 21]), "bytes for|expected"),
    (lambda h: h["layers"][0]["streams"]["codes"].update(encoding="zip"), "unknown encoding"),
])
def test_header_inconsistencies(tmp_path: Path, edit, message: str) -> None:
    p = tmp_path / "h.eie"
    p.write_bytes(_rewrite_header(_to_bytes(make_model()), edit))
    with pytest.raises(FormatError, match=message):
        eie.load(p)


def test_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="no such file"):
        eie.load(tmp_path / "missing.eie")
    other = tmp_path / "weights.safetensors"
    from safetensors.numpy import save_file

    save_file({"w": np.zeros(3, np.float32)}, str(other))
    with pytest.raises(FormatError, match="not a .eie file"):
        eie.load(other)


def test_saved_file_has_the_usual_mode(tmp_path: Path) -> None:
    path = eie.save(tmp_path / "m.eie", make_model())
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


def test_failed_save_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = eie.save(tmp_path / "m.eie", make_model(0))
    before = path.read_bytes()

    def boom(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        eie.save(path, make_model(1))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.eie"]  # no temporary file left


def test_model_validation() -> None:
    m = make_model()
    with pytest.raises(FormatError, match="unique"):
        eie.Model((m.layers[0], m.layers[0]))
    with pytest.raises(FormatError, match="at least one layer"):
        eie.Model(())
    with pytest.raises(FormatError, match="bias should have shape"):
        eie.Layer("x", m.layers[0].matrix, np.zeros(3, np.float32))
    with pytest.raises(FormatError, match="activation"):
        eie.Layer("x", m.layers[0].matrix, None, "gelu")
    with pytest.raises(FormatError, match="JSON"):
        eie.Model(m.layers, metadata={"f": object()})
