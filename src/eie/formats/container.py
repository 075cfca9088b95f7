"""The ``.eie`` model file: many EIE layers in one safe, versioned, checksummed file.

On disk it is a safetensors file (no pickle: safe to open from strangers). Its string metadata
holds one JSON header under the key ``"eie"``::

    {"magic": "eie-model", "format_version": 1, "creator": "eie 0.1.0", "source": "...",
     "metadata": {...user JSON...},
     "layers": [{"name": "fc1", "shape": [300, 784], "num_pes": 64, "index_bits": 4,
                 "weight_bits": 4, "pointer_bits": 16, "num_entries": 1234,
                 "activation": "relu", "has_bias": true,
                 "streams": {"codes": {"encoding": "packed", "count": 1234, "crc32": ...}, ...}}]}

Tensors of layer ``i`` (all uint8 byte streams except the float ones):

- ``{i}.codes``: every entry's code, bit-packed at ``weight_bits`` (little-endian bit order);
- ``{i}.rel_index``: every entry's relative index, bit-packed at ``index_bits``;
- ``{i}.col_ptr``: the ``(num_pes, cols + 1)`` column pointers, bit-packed at ``pointer_bits``;
- ``{i}.codebook``: float32; ``{i}.bias``: float32 (only when the layer has a bias).

Version 2 adds, per layer, ``"codebooks": {"group_rows": g, "zero_code": bool}`` (absent: one
shared codebook, code 0 = zero, as in version 1). With ``g >= 1`` the codebook tensor holds the
``(ceil(rows / g), K)`` codebooks row after row. A ``zero_code=False`` layer stores every weight
with ``rel_index`` 0, so its ``rel_index`` stream is ``{"encoding": "zeros", "count": n}`` with no
tensor.

So the payload is what ``EIEMatrix.storage()`` counts (plus the bias and padding to whole
bytes): the file is as small as the format promises. ``pe_offset`` is derived from the pointers.
Every tensor carries a CRC32 in the header, so a corrupted file is detected, never run.
Files are written atomically (temporary file in the same folder, fsync, rename).
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from eie._io import write_atomic
from eie._version import __version__
from eie.errors import FormatError
from eie.formats import bitpack
from eie.formats.eie_matrix import EIEMatrix
from eie.formats.huffman import MAX_CODE_LENGTH, HuffmanCode, kraft_sum
from eie.formats.model import Layer, Model
from eie.formats.storage import pointer_bits_needed

MAGIC = "eie-model"
FORMAT_VERSION = 2
"""Written when a layer has group codebooks or ``zero_code=False`` (layer header key
``"codebooks"``); files without such layers are written as version 1, which every reader takes."""
READ_VERSIONS = (1, 2)


# --------------------------------------------------------------------------------------- save
def save(path: str | os.PathLike[str], model: Model | Layer | EIEMatrix,
         huffman: bool = False) -> Path:
    """Write ``model`` to ``path`` atomically. A single Layer or EIEMatrix is wrapped in a Model.

    ``huffman=True`` stores each layer's ``codes`` and ``rel_index`` streams as canonical Huffman
    bitstreams (``eie.formats.huffman``; stream header ``"encoding": "huffman"`` with the code
    lengths and the bit count) instead of fixed-width packed values; ``load`` decodes both.

    >>> import numpy as np, tempfile, os, eie
    >>> m = eie.EIEMatrix.from_codes([[1, 0], [0, 2]], np.array([0, 1, 2], np.float32), num_pes=2)
    >>> p = eie.save(os.path.join(tempfile.mkdtemp(), "m.eie"), m)
    >>> eie.load(p).layers[0].matrix.equals(m)
    True
    """
    from safetensors.numpy import save as st_save

    model = _as_model(model)
    tensors: dict[str, np.ndarray] = {}
    layer_headers = []
    for i, layer in enumerate(model.layers):
        m = layer.matrix
        pbits = pointer_bits_needed(int(m.entries_per_pe().max(initial=0)))
        streams = {
            "codes": (bitpack.pack(m.codes, m.weight_bits), m.weight_bits, m.num_entries),
            "rel_index": (bitpack.pack(m.rel_index, m.index_bits), m.index_bits, m.num_entries),
            "col_ptr": (bitpack.pack(m.col_ptr.ravel(), pbits), pbits, m.col_ptr.size),
        }
        stream_headers: dict[str, dict[str, Any]] = {}
        grouped = m.group_rows != 0 or not m.zero_code
        if not m.zero_code:  # every rel_index is 0: nothing to store
            del streams["rel_index"]
            stream_headers["rel_index"] = {"encoding": "zeros", "count": m.num_entries}
        for key, (data, bits, count) in streams.items():
            header: dict[str, Any] = {"encoding": "packed", "bits": bits, "count": int(count)}
            if huffman and key != "col_ptr" and count:
                values = m.codes if key == "codes" else m.rel_index
                code = HuffmanCode.from_values(values, 1 << bits)
                data, nbits = code.encode(values)
                header = {"encoding": "huffman", "bits": bits, "count": int(count),
                          "nbits": nbits, "lengths": code.lengths.tolist()}
            tensors[f"{i}.{key}"] = data
            stream_headers[key] = {**header, "crc32": zlib.crc32(data.tobytes())}
        tensors[f"{i}.codebook"] = np.ascontiguousarray(m.codebook.ravel())
        stream_headers["codebook"] = {"crc32": zlib.crc32(m.codebook.tobytes())}
        if layer.bias is not None:
            tensors[f"{i}.bias"] = layer.bias
            stream_headers["bias"] = {"crc32": zlib.crc32(layer.bias.tobytes())}
        layer_headers.append({
            "name": layer.name, "shape": list(m.shape), "num_pes": m.num_pes,
            "index_bits": m.index_bits, "weight_bits": m.weight_bits, "pointer_bits": pbits,
            "num_entries": m.num_entries, "activation": layer.activation,
            "has_bias": layer.bias is not None, "streams": stream_headers,
            "attrs": dict(layer.attrs),
        })
        if grouped:
            layer_headers[-1]["codebooks"] = {"group_rows": m.group_rows,
                                              "zero_code": m.zero_code}
    version = 2 if any("codebooks" in lh for lh in layer_headers) else 1
    header = {"magic": MAGIC, "format_version": version, "creator": model.creator,
              "source": model.source, "metadata": dict(model.metadata), "layers": layer_headers}
    blob = st_save(tensors, metadata={"eie": json.dumps(header, sort_keys=True)})
    return write_atomic(path, blob)


def _as_model(obj: Model | Layer | EIEMatrix) -> Model:
    if isinstance(obj, Model):
        return obj
    if isinstance(obj, Layer):
        return Model((obj,))
    if isinstance(obj, EIEMatrix):
        return Model((Layer("layer0", obj),))
    raise FormatError(f"save expects an eie.Model, eie.Layer or EIEMatrix, found "
                      f"{type(obj).__name__}")


# --------------------------------------------------------------------------------------- load
def load(path: str | os.PathLike[str]) -> Model:
    """Read and fully validate a ``.eie`` file. Raises FormatError on anything wrong with it.

    Memory and time are bounded by the file's size and the limits of ``eie.formats._validate``
    (``MAX_DIM``, ``MAX_WEIGHTS``, ``MAX_PES``; see docs/format.md, "Threat model"): every header field is type- and range-checked and
    every stream's size is checked against its header before anything is allocated from it.
    """
    p = Path(path)
    if not p.is_file():
        raise FormatError(f"{p}: no such file; expected a .eie model file")
    try:
        data = p.read_bytes()
    except OSError as e:
        raise FormatError(f"{p}: cannot be read ({e.strerror or e})") from None
    return loads(data, str(p))


def loads(data: bytes, name: str = "<bytes>") -> Model:
    from safetensors import SafetensorError
    from safetensors.numpy import load as st_load

    header = _read_header(data, name)
    try:
        tensors = st_load(data)
    except (SafetensorError, ValueError, OSError, OverflowError) as e:
        raise FormatError(f"{name}: not a readable .eie file (truncated or corrupted?): {e}"
                          ) from None
    try:
        layers_h = header.get("layers")
        if not isinstance(layers_h, list) or not layers_h:
            raise FormatError("header field 'layers' should be a non-empty list")
        metadata = header.get("metadata", {})
        if not isinstance(metadata, dict):
            raise FormatError(f"header field 'metadata' should be an object, found "
                              f"{type(metadata).__name__}")
        layers = tuple(_load_layer(i, lh, tensors) for i, lh in enumerate(layers_h))
        return Model(layers, source=str(header.get("source", "")), metadata=metadata,
                     creator=str(header.get("creator", "")))
    except FormatError as e:
        raise FormatError(f"{name}: {e}") from None
    except (KeyError, TypeError, ValueError, OverflowError, AttributeError, IndexError,
            RecursionError) as e:
        raise FormatError(f"{name}: malformed .eie header or tensors ({type(e).__name__}: {e})"
                          ) from None


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json object hook: a key given twice is ambiguous (parsers disagree on which wins)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise FormatError(f"JSON key {key!r} appears more than once")
        out[key] = value
    return out


def _json(raw: bytes | str) -> Any:
    return json.loads(raw, object_pairs_hook=_unique_keys)


def _read_header(data: bytes, name: str) -> dict[str, Any]:
    # safetensors layout: u64 little-endian header length, then that many bytes of JSON.
    if len(data) < 8:
        raise FormatError(f"{name}: file is {len(data)} bytes, too short for a .eie file")
    n = int.from_bytes(data[:8], "little")
    if n > len(data) - 8:
        raise FormatError(f"{name}: header says {n} bytes but the file has {len(data) - 8} "
                          "after it (truncated?)")
    try:
        st_header = _json(data[8:8 + n])
        header = _json(st_header["__metadata__"]["eie"])
    except FormatError as e:
        raise FormatError(f"{name}: malformed header: {e}") from None
    except (ValueError, KeyError, TypeError, RecursionError):
        raise FormatError(f"{name}: not a .eie file (no eie header in its metadata)") from None
    if not isinstance(header, dict) or header.get("magic") != MAGIC:
        magic = header.get("magic") if isinstance(header, dict) else None
        raise FormatError(f"{name}: not a .eie file (magic {magic!r} should be {MAGIC!r})")
    version = header.get("format_version")
    if type(version) is not int or version not in READ_VERSIONS:
        raise FormatError(f"{name}: .eie format version {version!r} is not supported by eie "
                          f"{__version__} (it reads versions {list(READ_VERSIONS)}); upgrade eie "
                          "or re-export the model")
    layers = header.get("layers")
    if version == 1 and isinstance(layers, list) and any(
            isinstance(lh, dict) and "codebooks" in lh for lh in layers):
        raise FormatError(f"{name}: a version 1 file cannot have group codebooks")
    return header


def _field(obj: Mapping[str, Any], key: str, where: str) -> Any:
    if not isinstance(obj, Mapping):
        raise FormatError(f"{where} should be an object, found {type(obj).__name__}")
    if key not in obj:
        raise FormatError(f"{where}: field {key!r} is missing")
    return obj[key]


def _int(obj: Mapping[str, Any], key: str, lo: int, hi: int, where: str) -> int:
    """A JSON integer field within [lo, hi] (floats, infinities, booleans and strings refused)."""
    v = _field(obj, key, where)
    if type(v) is not int or not lo <= v <= hi:
        raise FormatError(f"{where}: {key!r} should be an integer in {lo}..{hi}, found {v!r}")
    return v


def _tensor(tensors: Mapping[str, np.ndarray], key: str, dtype: type, crc: int) -> np.ndarray:
    if key not in tensors:
        raise FormatError(f"tensor {key!r} is missing")
    t = tensors[key]
    if t.dtype != dtype or t.ndim != 1:
        raise FormatError(f"tensor {key!r} should be 1-D {np.dtype(dtype)}, found {t.ndim}-D "
                          f"{t.dtype}")
    if zlib.crc32(t.tobytes()) != crc:
        raise FormatError(f"tensor {key!r} fails its CRC32 check: the file is corrupted")
    return t


def _huffman_stream(where: str, info: Mapping[str, Any], raw: np.ndarray, bits: int, count: int
                    ) -> np.ndarray:
    # bits <= 8 here (checked by the caller), so the code table has at most 256 lengths.
    nbits = _int(info, "nbits", 0, raw.size * 8, where)
    if count > nbits:  # every code word takes at least one bit
        raise FormatError(f"{where}: {count} values cannot fit in {nbits} Huffman bits")
    lengths_list = _field(info, "lengths", where)
    if (not isinstance(lengths_list, list) or len(lengths_list) != 1 << bits
            or not all(type(v) is int and 0 <= v <= MAX_CODE_LENGTH for v in lengths_list)):
        raise FormatError(f"{where}: invalid Huffman code lengths (should be {1 << bits} "
                          f"integers in 0..{MAX_CODE_LENGTH})")
    lengths = np.asarray(lengths_list, dtype=np.int64)
    if kraft_sum(lengths) > 1.0:
        raise FormatError(f"{where}: Huffman code lengths do not form a prefix code")
    return HuffmanCode(lengths).decode_fast(raw, nbits, count)


def _load_layer(i: int, lh: dict[str, Any], tensors: Mapping[str, np.ndarray]) -> Layer:
    from eie.formats._validate import MAX_PES, check_shape

    where = f"layer {i}"
    shape = _field(lh, "shape", where)
    if not isinstance(shape, list) or not all(type(v) is int for v in shape):
        raise FormatError(f"{where}: 'shape' should be a list of two integers, found {shape!r}")
    rows, cols = check_shape(shape)
    num_pes = _int(lh, "num_pes", 1, MAX_PES, where)
    index_bits = _int(lh, "index_bits", 1, 8, where)
    weight_bits = _int(lh, "weight_bits", 1, 8, where)
    # Every entry takes at least 2 bits of the file: the stream sizes below bound it further.
    n = _int(lh, "num_entries", 0, 1 << 62, where)
    has_bias = _field(lh, "has_bias", where)
    if type(has_bias) is not bool:
        raise FormatError(f"{where}: 'has_bias' should be true or false, found {has_bias!r}")
    attrs = lh.get("attrs", {})
    if not isinstance(attrs, dict):
        raise FormatError(f"{where}: 'attrs' should be an object, found {type(attrs).__name__}")
    s = _field(lh, "streams", where)
    if not isinstance(s, dict):
        raise FormatError(f"{where}: 'streams' should be an object, found {type(s).__name__}")

    def crc(key: str) -> int:
        return _int(_field(s, key, where), "crc32", 0, 0xFFFFFFFF, f"{where} stream {key!r}")

    def stream(key: str, count: int, bits_expected: int | None) -> np.ndarray:
        sw = f"{where} stream {key!r}"
        info = _field(s, key, where)
        encoding = _field(info, "encoding", sw)
        if encoding not in ("packed", "huffman") or (encoding == "huffman" and key == "col_ptr"):
            raise FormatError(f"{sw}: unknown encoding {encoding!r}")
        bits = _int(info, "bits", 1, 64, sw)
        if bits_expected is not None and bits != bits_expected:
            raise FormatError(f"{sw}: 'bits' should be {bits_expected}, found {bits}")
        if _int(info, "count", 0, 1 << 62, sw) != count:
            raise FormatError(f"{sw}: {info['count']} values, expected {count}")
        raw = _tensor(tensors, f"{i}.{key}", np.uint8, crc(key))
        if encoding == "huffman":
            return _huffman_stream(sw, info, raw, bits, count)
        return bitpack.unpack(raw, bits, count)  # checks raw's size before allocating

    groups = lh.get("codebooks", {"group_rows": 0, "zero_code": True})
    if not isinstance(groups, dict):
        raise FormatError(f"{where}: 'codebooks' should be an object, found {groups!r}")
    group_rows, zero_code = groups.get("group_rows"), groups.get("zero_code")
    if type(group_rows) is not int or group_rows < 0 or type(zero_code) is not bool:
        raise FormatError(f"{where}: codebooks should be {{'group_rows': int >= 0, "
                          f"'zero_code': bool}}, found {groups!r}")
    codes = stream("codes", n, weight_bits).astype(np.uint8)
    if zero_code:
        rel = stream("rel_index", n, index_bits).astype(np.uint8)
    else:
        if _field(s, "rel_index", where) != {"encoding": "zeros", "count": n}:
            raise FormatError(f"{where}: a zero_code=False layer's rel_index stream should be "
                              f"{{'encoding': 'zeros', 'count': {n}}}, found {s['rel_index']!r}")
        rel = np.zeros(n, np.uint8)
    col_ptr = stream("col_ptr", num_pes * (cols + 1), None)
    if col_ptr.size and int(col_ptr.max()) > n:
        raise FormatError(f"{where}: a column pointer is {int(col_ptr.max())}, past the {n} "
                          "entries")
    col_ptr = col_ptr.astype(np.int64).reshape(num_pes, cols + 1)
    pe_offset = np.zeros(num_pes + 1, np.int64)
    np.cumsum(col_ptr[:, -1], out=pe_offset[1:])
    codebook = _tensor(tensors, f"{i}.codebook", np.float32, crc("codebook")).copy()
    if group_rows:
        ngroups = -(-rows // group_rows) if rows else 0
        if ngroups == 0 or len(codebook) % ngroups:
            raise FormatError(f"{where}: {len(codebook)} codebook values do not split into "
                              f"{ngroups} group codebooks")
        codebook = codebook.reshape(ngroups, -1)
    matrix = EIEMatrix(np.ascontiguousarray(codes), np.ascontiguousarray(rel), pe_offset, col_ptr,
                       codebook, (rows, cols), num_pes, index_bits, weight_bits, group_rows,
                       zero_code)
    bias = None
    if has_bias:
        bias = _tensor(tensors, f"{i}.bias", np.float32, crc("bias")).copy()
    return Layer(_field(lh, "name", where), matrix, bias, lh.get("activation"), attrs)
