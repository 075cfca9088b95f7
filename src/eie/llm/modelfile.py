"""One self-contained model file for a quantized transformer (``.eie``, kind ``eie-llm-model``).

Same rules as every ``.eie`` file (``eie.formats.container``): a safetensors file (no pickle)
whose metadata holds one JSON header under ``"eie"``; a magic and a format version; a CRC32,
dtype and shape for every tensor, all checked on load; written atomically. Contents::

    {"magic": "eie-llm-model", "format_version": 1, "creator": "eie 0.1.0", "source": "...",
     "kind": "causal-lm" | "encoder", "model_type": "llama", "config": {...HF config...},
     "quantization": {...report of eie.llm.quantize...},
     "layers": [{"name": "model.layers.0.self_attn.q_proj", "scheme": "codebook", "shape": [r, c],
                 "bits": 4, "group_rows": 1, "group_cols": c, "prune": null}, ...],
     "tensors": {"<tensor key>": {"dtype": "uint8", "shape": [...], "crc32": ...}, ...},
     "aliases": {"lm_head.weight": "model.embed_tokens.weight"}, "tokenizer_files": [...]}

Tensor keys: ``q.{i}.codes`` (the kept entries' codes, bit-packed at ``bits``, little-endian bit
order, row-major), ``q.{i}.mask`` (pruned layers: one bit per weight, 1 = kept),
``q.{i}.codebook`` (fp16, (groups, 2**bits)), ``q.{i}.scale`` / ``q.{i}.zero`` (fp16, (groups,)),
``q.{i}.weight`` (fp16, or bf16 as uint16 bits); ``t.{name}``: every other tensor of the model's
state dict as it was (float32 weights, integer buffers); ``tok.{j}``: the bytes of the j-th
tokenizer file. An N:M mask is stored as the same bitmap (the bits/weight figures count the
N:M index encoding, ``eie.llm.qweight``).
"""

from __future__ import annotations

import json
import os
import tempfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from eie._io import write_atomic
from eie._version import __version__
from eie.errors import FormatError
from eie.formats import bitpack
from eie.llm.qweight import SCHEMES, QuantizedWeight, num_groups
from eie.llm.schemes import fixed_tables, int_tables

MAGIC = "eie-llm-model"
FORMAT_VERSION = 1
TENSOR_DTYPES = ("float32", "float16", "uint8", "uint16", "int64", "int32", "bool")
MAX_TOKENIZER_FILES = 32


# ----------------------------------------------------------------------------------- codes
def pack_codes(codes: np.ndarray, bits: int) -> np.ndarray:
    """``bitpack.pack`` (same layout), with a fast path for 1, 2, 4 and 8 bits."""
    v = np.ascontiguousarray(codes, dtype=np.uint8).ravel()
    if bits in (1, 2, 4) and v.size:
        if int(v.max()) >> bits:
            raise FormatError(f"code {int(v.max())} does not fit in {bits} bits")
        per = 8 // bits
        pad = (-v.size) % per
        p = np.concatenate([v, np.zeros(pad, np.uint8)]).reshape(-1, per).astype(np.uint16)
        shifts = (np.arange(per, dtype=np.uint16) * bits)[None, :]
        return (p << shifts).sum(axis=1).astype(np.uint8)
    if bits == 8:
        return v.copy()
    return bitpack.pack(v, bits)


def unpack_codes(raw: np.ndarray, bits: int, count: int) -> np.ndarray:
    if bits in (1, 2, 4):
        expected = bitpack.packed_size(count, bits)
        if raw.size != expected:
            raise FormatError(f"packed codes should be {expected} bytes for {count} codes of "
                              f"{bits} bits, found {raw.size} (truncated or corrupted?)")
        per = 8 // bits
        shifts = (np.arange(per, dtype=np.uint8) * bits)[None, :]
        v = (raw[:, None] >> shifts) & np.uint8((1 << bits) - 1)
        return np.ascontiguousarray(v.ravel()[:count])
    return bitpack.unpack(raw, bits, count).astype(np.uint8)


# ----------------------------------------------------------------------------------- save
def save(path: str | os.PathLike[str], qmodel: Any) -> Path:
    """Write a ``QuantizedModel`` (``eie.llm.quantize``) as one self-contained file."""
    from safetensors.numpy import save as st_save

    loaded = qmodel.loaded
    tensors: dict[str, np.ndarray] = {}
    layer_headers = []
    for i, (name, q) in enumerate(qmodel.layers.items()):
        stored: dict[str, np.ndarray] = {}
        if q.codes is not None:
            kept = q.codes.ravel() if q.mask is None else q.codes.ravel()[q.mask.ravel()]
            stored["codes"] = pack_codes(kept, q.bits)
        if q.mask is not None:
            stored["mask"] = pack_codes(q.mask.ravel().astype(np.uint8), 1)
        for key, value in q.params.items():
            stored[key] = np.ascontiguousarray(value)
        for key, value in stored.items():
            tensors[f"q.{i}.{key}"] = value
        layer_headers.append({"name": name, "scheme": q.scheme, "shape": list(q.shape),
                              "bits": q.bits, "group_rows": q.group_rows,
                              "group_cols": q.group_cols, "prune": q.prune})
    quantized = {f"{n}.weight" for n in qmodel.layers}
    aliases: dict[str, str] = {}
    seen: dict[int, str] = {}
    for key, t in loaded.model.state_dict().items():
        if key in quantized:
            continue
        ptr = t.data_ptr()
        if ptr in seen and t.numel() > 0:
            aliases[key] = seen[ptr]
            continue
        seen[ptr] = key
        arr = t.detach().cpu().contiguous().numpy()
        if str(arr.dtype) not in TENSOR_DTYPES:
            raise FormatError(f"tensor {key!r} has dtype {arr.dtype}; storable are "
                              f"{TENSOR_DTYPES}")
        tensors[f"t.{key}"] = arr
    tok_files = _tokenizer_files(loaded.tokenizer)
    for j, (_fname, data) in enumerate(tok_files):
        tensors[f"tok.{j}"] = np.frombuffer(data, np.uint8).copy()
    header = {
        "magic": MAGIC, "format_version": FORMAT_VERSION, "creator": f"eie {__version__}",
        "source": str(loaded.source), "kind": loaded.kind, "model_type": loaded.model_type,
        "config": loaded.model.config.to_dict(), "quantization": qmodel.report,
        "layers": layer_headers, "aliases": aliases,
        "tokenizer_files": [f for f, _ in tok_files],
        "tensors": {k: {"dtype": str(v.dtype), "shape": list(v.shape),
                        "crc32": zlib.crc32(np.ascontiguousarray(v).tobytes())}
                    for k, v in tensors.items()},
    }
    blob = st_save(tensors, metadata={"eie": json.dumps(header, sort_keys=True, default=_json)})
    return write_atomic(path, blob)


def _json(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if hasattr(o, "to_dict"):
        return o.to_dict()
    return str(o)


def _tokenizer_files(tokenizer: Any) -> list[tuple[str, bytes]]:
    with tempfile.TemporaryDirectory(prefix="eie-tok-") as d:
        tokenizer.save_pretrained(d)
        return [(p.name, p.read_bytes()) for p in sorted(Path(d).iterdir()) if p.is_file()]


# ----------------------------------------------------------------------------------- load
def is_model_file(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` is a file whose safetensors metadata carries this kind's magic."""
    p = Path(path)
    if not p.is_file():
        return False
    try:
        with p.open("rb") as f:
            head = f.read(8)
            if len(head) < 8:
                return False
            n = int.from_bytes(head, "little")
            if n > min(p.stat().st_size - 8, 1 << 28):
                return False
            meta = json.loads(f.read(n)).get("__metadata__", {})
            return bool(json.loads(meta.get("eie", "{}")).get("magic") == MAGIC)
    except (OSError, ValueError, AttributeError, TypeError):
        return False


def read_header(data: bytes, name: str) -> dict[str, Any]:
    if len(data) < 8:
        raise FormatError(f"{name}: file is {len(data)} bytes, too short for a .eie file")
    n = int.from_bytes(data[:8], "little")
    if n > len(data) - 8:
        raise FormatError(f"{name}: header says {n} bytes but the file has {len(data) - 8} "
                          "after it (truncated?)")
    try:
        header = json.loads(json.loads(data[8:8 + n])["__metadata__"]["eie"])
    except (ValueError, KeyError, TypeError):
        raise FormatError(f"{name}: not a .eie file (no eie header in its metadata)") from None
    if not isinstance(header, dict) or header.get("magic") != MAGIC:
        found = header.get("magic") if isinstance(header, dict) else None
        raise FormatError(f"{name}: not a quantized transformer file (magic {found!r} should be "
                          f"{MAGIC!r})")
    if header.get("format_version") != FORMAT_VERSION:
        raise FormatError(f"{name}: format version {header.get('format_version')!r} is not "
                          f"supported by eie {__version__} (it reads {FORMAT_VERSION}); upgrade "
                          "eie or quantize the model again")
    return header


def _checked(tensors: dict[str, np.ndarray], info: dict[str, Any], key: str) -> np.ndarray:
    if key not in tensors or key not in info:
        raise FormatError(f"tensor {key!r} is missing")
    t, meta = tensors[key], info[key]
    if str(t.dtype) != meta["dtype"] or list(t.shape) != list(meta["shape"]):
        raise FormatError(f"tensor {key!r} should be {meta['dtype']} {meta['shape']}, found "
                          f"{t.dtype} {list(t.shape)}")
    if zlib.crc32(np.ascontiguousarray(t).tobytes()) != int(meta["crc32"]):
        raise FormatError(f"tensor {key!r} fails its CRC32 check: the file is corrupted")
    return t


def _layer(i: int, lh: dict[str, Any], tensors: dict[str, np.ndarray], info: dict[str, Any]
           ) -> QuantizedWeight:
    scheme = lh["scheme"]
    if scheme not in SCHEMES:
        raise FormatError(f"layer {i}: unknown scheme {scheme!r}")
    rows, cols = (int(v) for v in lh["shape"])
    bits, gr, gc = int(lh["bits"]), int(lh["group_rows"]), int(lh["group_cols"])
    if not (1 <= rows <= 1 << 20 and 1 <= cols <= 1 << 20 and gr >= 1 and gc >= 1
            and 1 <= bits <= 16):
        raise FormatError(f"layer {i}: bad shape {lh['shape']}, bits {bits} or group {gr}x{gc}")
    g = num_groups((rows, cols), gr, gc)

    def get(key: str, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
        t = _checked(tensors, info, f"q.{i}.{key}")
        if str(t.dtype) != dtype or t.shape != shape:
            raise FormatError(f"layer {i} {key}: expected {dtype} {list(shape)}, found "
                              f"{t.dtype} {list(t.shape)}")
        return t

    if scheme in ("fp16", "bf16"):
        w = get("weight", "float16" if scheme == "fp16" else "uint16", (rows, cols))
        return QuantizedWeight(scheme, (rows, cols), 16, 1, cols, None, None, {"weight": w})
    if bits > 8:
        raise FormatError(f"layer {i}: {scheme} codes should be 1..8 bits, found {bits}")
    mask = None
    prune = lh.get("prune")
    if prune is not None:
        raw = get("mask", "uint8", (bitpack.packed_size(rows * cols, 1),))
        mask = unpack_codes(raw, 1, rows * cols).astype(bool).reshape(rows, cols)
    kept = rows * cols if mask is None else int(mask.sum())
    raw = get("codes", "uint8", (bitpack.packed_size(kept, bits),))
    flat = unpack_codes(raw, bits, kept)
    if mask is None:
        codes = flat.reshape(rows, cols)
    else:
        full = np.zeros(rows * cols, np.uint8)
        full[mask.ravel()] = flat
        codes = full.reshape(rows, cols)
    if scheme == "codebook":
        cb = get("codebook", "float16", (g, 1 << bits))
        params, tables = {"codebook": cb}, cb.astype(np.float32)
    elif scheme == "int":
        scale, zero = get("scale", "float16", (g,)), get("zero", "float16", (g,))
        params, tables = {"scale": scale, "zero": zero}, int_tables(scale, zero, bits)
    else:
        scale = get("scale", "float16", (g,))
        params, tables = {"scale": scale}, fixed_tables(scheme, scale)
    return QuantizedWeight(scheme, (rows, cols), bits, gr, gc, codes, tables, params, mask,
                           prune)


def load(path: str | os.PathLike[str]) -> Any:
    """Read, validate and rebuild the model: a ``LoadedModel`` whose quantized Linear layers hold
    their dequantized weights (float32), plus ``.quantized`` (name -> QuantizedWeight) and
    ``.header``."""
    from safetensors import SafetensorError
    from safetensors.numpy import load as st_load

    from eie.llm.sources import LoadedModel, kind_of, require_transformers

    p = Path(path)
    if not p.is_file():
        raise FormatError(f"{p}: no such file; expected a quantized transformer .eie file")
    data = p.read_bytes()
    name = str(p)
    header = read_header(data, name)
    try:
        tensors = st_load(data)
    except (SafetensorError, ValueError, OSError) as e:
        raise FormatError(f"{name}: not a readable .eie file (truncated or corrupted?): {e}"
                          ) from None
    try:
        info = header["tensors"]
        config, model_type = dict(header["config"]), str(header["model_type"])
        kind = kind_of(model_type, name)
        if kind != header["kind"]:
            raise FormatError(f"kind {header['kind']!r} does not match model_type {model_type!r}")
        extra = sorted(set(tensors) - set(info))
        if extra:
            raise FormatError(f"tensor {extra[0]!r} is not listed in the header")
        quantized = {str(lh["name"]): _layer(i, lh, tensors, info)
                     for i, lh in enumerate(header["layers"])}
        state = {k[2:]: _checked(tensors, info, k) for k in info if k.startswith("t.")}
        files = list(header["tokenizer_files"])
        if len(files) > MAX_TOKENIZER_FILES or any(
                not isinstance(f, str) or "/" in f or "\\" in f or f in ("", ".", "..")
                for f in files):
            raise FormatError("tokenizer_files should be at most "
                              f"{MAX_TOKENIZER_FILES} plain file names")
        tok_bytes = [(f, _checked(tensors, info, f"tok.{j}").tobytes())
                     for j, f in enumerate(files)]
        aliases = dict(header.get("aliases", {}))
    except FormatError as e:
        raise FormatError(f"{name}: {e}") from None
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise FormatError(f"{name}: malformed header or tensors ({type(e).__name__}: {e})"
                          ) from None
    tf = require_transformers()
    import torch

    try:
        cfg = tf.AutoConfig.for_model(model_type).__class__.from_dict(config)
        cls = tf.AutoModelForCausalLM if kind == "causal-lm" else tf.AutoModel
        model = cls.from_config(cfg)
        sd: dict[str, Any] = {k: torch.from_numpy(v.copy()) for k, v in state.items()}
        for lname, q in quantized.items():
            sd[f"{lname}.weight"] = torch.from_numpy(q.dequantize())
        for alias, target in aliases.items():
            sd[alias] = sd[target]
        model.load_state_dict(sd, strict=True)
        with tempfile.TemporaryDirectory(prefix="eie-tok-") as d:
            for fname, b in tok_bytes:
                (Path(d) / fname).write_bytes(b)
            tokenizer = tf.AutoTokenizer.from_pretrained(d, local_files_only=True)
    except (KeyError, ValueError, RuntimeError, OSError, TypeError) as e:
        raise FormatError(f"{name}: the stored model does not rebuild ({type(e).__name__}: "
                          f"{str(e).strip().splitlines()[0] if str(e).strip() else ''})"
                          ) from None
    model.eval()
    loaded = LoadedModel(model, tokenizer, kind, model_type, str(header.get("source", name)))
    loaded.quantized = quantized  # type: ignore[attr-defined]
    loaded.header = header  # type: ignore[attr-defined]
    return loaded


def open_model(path: str | os.PathLike[str]) -> Any:
    """A quantized ``.eie`` transformer file or a SOURCE (HF directory / .gguf)."""
    from eie.llm.sources import load_source

    return load(path) if is_model_file(path) else load_source(path)
