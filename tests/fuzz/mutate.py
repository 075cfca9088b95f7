"""Structure-aware mutations of valid ``.eie`` files and EIE simulator folders.

Each mutation starts from a valid input and applies one to three edits chosen at random: bit
flips and truncation of the raw bytes, header edits (any field set to a hostile value, removed,
duplicated, numbers replaced by Infinity/NaN), tensor edits (random bytes, resized, column pointers
and codes re-packed with hostile values) with the CRCs fixed up so the edit reaches the
validation behind them. Deterministic for a given ``random.Random`` seed.
"""

from __future__ import annotations

import copy
import json
import random
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from eiefile import EieFile

import eie
from eie.formats import EIEMatrix, bitpack, eiesim

HOSTILE: list[Any] = [
    0, 1, -1, 2, 3, 7, 8, 9, 15, 16, 17, 63, 64, 65, 255, 256, 4096, 4097, 2**16, 2**24,
    2**24 + 1, 2**30, 2**31 - 1, 2**31, 2**32, 2**34, 2**40, 2**53 + 1, 2**62, 2**63 - 1, 2**63,
    2**64, -(2**63), 10**12, 1e308, float("inf"), float("-inf"), float("nan"), 0.5, 4.0, "", "x",
    None, True, False, [], {}, [1, 2], [0, 0, 0], [2**63, 1], {"a": 1}, "relu", [[]],
]
HOSTILE_U32 = [0, 1, 2, 15, 16, 255, 256, 2**16, 2**31 - 1, 2**31, 2**32 - 1]


def hostile_int(rng: random.Random, n: int) -> int:
    """A value around the sizes that matter (n = a count in the file) or an extreme."""
    return rng.choice([0, 1, n - 1, n, n + 1, 2 * n, rng.randrange(0, max(n, 1) + 8),
                       2**16, 2**31, 2**32 - 1, 2**40, 2**62, 2**63 - 1, 2**64 - 1])


# ------------------------------------------------------------------------------ seed inputs
def seed_models(rng: random.Random, tmp: Path) -> list[bytes]:
    """Small valid ``.eie`` files: several PE counts, index widths, codebooks, Huffman or not,
    bias or not, one or two layers, fillers, empty PEs and columns; and convolution chains
    (stride, padding and steps between layers in the layers' attributes)."""
    out = []
    nrng = np.random.default_rng(rng.randrange(2**32))
    for i in range(12):
        layers = []
        cols = int(nrng.integers(1, 12))
        for li in range(1 + i % 2):
            rows = int(nrng.integers(1, 20))
            ncode = int(nrng.choice([2, 4, 16, 33]))
            codebook = np.concatenate([[0.0], nrng.standard_normal(ncode - 1)]).astype(np.float32)
            codes = nrng.integers(0, ncode, (rows, cols)) * (nrng.random((rows, cols)) < 0.3)
            m = EIEMatrix.from_codes(codes, codebook, num_pes=int(nrng.choice([1, 2, 4, 7])),
                                     index_bits=int(nrng.choice([1, 2, 4])))
            bias = nrng.standard_normal(rows).astype(np.float32) if li % 2 == 0 else None
            layers.append(eie.Layer(f"l{li}", m, bias, "relu" if li == 0 else None,
                                    {"kind": "linear"} if i % 3 == 0 else {}))
            cols = rows
        path = eie.save(tmp / f"seed{i}.eie", eie.Model(tuple(layers), metadata={"i": i}),
                        huffman=i % 3 == 1)
        out.append(path.read_bytes())
    for i in range(4):  # convolution chains: conv -> relu, pool, flatten -> linear
        ic, oc, k = 1 + i % 2, 2 + i % 3, (1, 3)[i % 2]
        stride, pad, hw = 1 + i // 2, i % 2, 6 + i
        ho = (hw + 2 * pad - k) // stride + 1
        codebook = np.concatenate([[0.0], nrng.standard_normal(7)]).astype(np.float32)
        wc = nrng.integers(0, 8, (oc, ic * k * k)) * (nrng.random((oc, ic * k * k)) < 0.5)
        conv = eie.Layer("conv", EIEMatrix.from_codes(wc, codebook, num_pes=1 + i), None, None,
                         {"kind": "conv2d", "weight_shape": [oc, ic, k, k],
                          "stride": [stride, stride], "padding": [pad, pad],
                          "dilation": [1, 1], "then": [
                              {"op": "relu"}, {"op": "max_pool2d", "kernel": [2, 2]},
                              {"op": "flatten"}]})
        fin = oc * (ho // 2) ** 2
        wl = nrng.integers(0, 8, (3, fin)) * (nrng.random((3, fin)) < 0.3)
        lin = eie.Layer("fc", EIEMatrix.from_codes(wl, codebook, num_pes=2), None, None,
                        {"kind": "linear", "then": []})
        model = eie.Model((conv, lin), metadata={
            "graph": {"chain": True, "input_shape": [ic, hw, hw]}})
        out.append(eie.save(tmp / f"conv{i}.eie", model, huffman=i % 2 == 1).read_bytes())
    return out


def seed_folders(rng: random.Random, tmp: Path) -> list[Path]:
    """Small valid simulator folders (the bias column included)."""
    out = []
    nrng = np.random.default_rng(rng.randrange(2**32))
    for i in range(6):
        rows, cols = int(nrng.integers(1, 24)), int(nrng.integers(1, 10))
        codebook = np.concatenate([[0.0], nrng.standard_normal(7)]).astype(np.float32)
        codes = nrng.integers(0, 8, (rows, cols)) * (nrng.random((rows, cols)) < 0.4)
        m = EIEMatrix.from_codes(codes, codebook, num_pes=int(nrng.choice([1, 2, 3, 8])))
        bias = codebook[nrng.integers(0, 8, rows)]
        out.append(eiesim.save(tmp / f"seed{i}", m, bias,
                               nrng.standard_normal(cols).astype(np.float32)))
    return out


# ------------------------------------------------------------------------------- .eie edits
def _paths(obj: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key / index path in a JSON value."""
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.append((*prefix, k))
            out += _paths(v, (*prefix, k))
    elif isinstance(obj, list) and len(obj) <= 64:
        for i, v in enumerate(obj):
            out.append((*prefix, i))
            out += _paths(v, (*prefix, i))
    return out


def _parent(obj: Any, path: tuple) -> Any:
    for p in path[:-1]:
        obj = obj[p]
    return obj


def edit_header_value(f: EieFile, rng: random.Random) -> None:
    path = rng.choice(_paths(f.header))
    # a copy: a shared list or object edited by later inputs would grow from input to input
    _parent(f.header, path)[path[-1]] = copy.deepcopy(rng.choice(HOSTILE))


def delete_header_key(f: EieFile, rng: random.Random) -> None:
    path = rng.choice(_paths(f.header))
    parent = _parent(f.header, path)
    del parent[path[-1]]


def edit_layer_list(f: EieFile, rng: random.Random) -> None:
    layers = f.header["layers"]
    op = rng.randrange(3)
    if op == 0 and len(layers) > 1:
        layers.reverse()
    elif op == 1:
        layers.append(json.loads(json.dumps(rng.choice(layers))))
    else:
        layers.clear()


def edit_col_ptr(f: EieFile, rng: random.Random) -> None:
    i = rng.randrange(len(f.header["layers"]))
    ptr = f.col_ptr(i)
    n = f.layer(i)["num_entries"]
    n = n if type(n) is int and 0 <= n < 2**62 else 16
    for _ in range(rng.randint(1, 3)):
        if ptr.size:
            ptr[rng.randrange(ptr.size)] = hostile_int(rng, n) % 2**63
    if rng.random() < 0.2 and ptr.size:
        ptr = ptr[: rng.randrange(ptr.size)]
    f.set_col_ptr(ptr, i, bits=rng.choice([16, 32, 63, 64]))


def edit_entries(f: EieFile, rng: random.Random) -> None:
    """codes or rel_index re-packed (packed streams only) with out-of-range values or widths."""
    i = rng.randrange(len(f.header["layers"]))
    lh = f.layer(i)
    key = rng.choice(["codes", "rel_index"])
    info = lh["streams"][key]
    n = lh["num_entries"]
    if type(n) is not int or not 0 <= n <= 1 << 16:  # an earlier edit made it hostile
        n = rng.randrange(64)
    bits = info.get("bits")
    if type(bits) is not int or not 1 <= bits <= 16:  # an earlier edit made it hostile
        bits = 8
    bits = rng.choice([bits, bits, 8, 9, 16])
    values = np.random.default_rng(rng.randrange(2**32)).integers(0, 2**bits, n, dtype=np.uint64)
    info.update(encoding="packed", bits=bits, count=n)
    info.pop("lengths", None)
    info.pop("nbits", None)
    f.set_tensor(f"{i}.{key}", bitpack.pack(values, bits).tobytes())
    if rng.random() < 0.3:
        lh["num_entries"] = hostile_int(rng, n)


def edit_huffman(f: EieFile, rng: random.Random) -> None:
    for lh in f.header["layers"]:
        for info in lh["streams"].values():
            if info.get("encoding") == "huffman":
                op = rng.randrange(3)
                if op == 0 and info["lengths"]:
                    j = rng.randrange(len(info["lengths"]))
                    info["lengths"][j] = rng.choice([0, 1, 15, 16, 17, 64, -1, 2**40])
                elif op == 1:
                    info["nbits"] = hostile_int(rng, int(info.get("nbits", 0)))
                else:
                    info["count"] = hostile_int(rng, int(info.get("count", 0)))
                return


def edit_tensor_bytes(f: EieFile, rng: random.Random) -> None:
    name = rng.choice(list(f.tensors))
    dtype, _, raw = f.tensors[name]
    b = bytearray(raw)
    op = rng.randrange(4)
    if op == 0 and b:
        for _ in range(rng.randint(1, 4)):
            b[rng.randrange(len(b))] = rng.randrange(256)
    elif op == 1:
        b = b[: rng.randrange(len(b) + 1)]
    elif op == 2:
        b += bytes(rng.randrange(256) for _ in range(rng.choice([1, 4, 8, 64])))
    elif dtype == "F32" and len(b) >= 4:
        j = 4 * rng.randrange(len(b) // 4)
        b[j:j + 4] = np.array([rng.choice([np.nan, np.inf, -np.inf, 1e38])], "<f4").tobytes()
    f.set_tensor(name, bytes(b))


def edit_tensor_table(f: EieFile, rng: random.Random) -> None:
    """A tensor removed, renamed or given another dtype."""
    name = rng.choice(list(f.tensors))
    op = rng.randrange(3)
    if op == 0:
        del f.tensors[name]
    elif op == 1:
        f.tensors[rng.choice(["9.codes", "0.extra", name + "x"])] = f.tensors.pop(name)
    else:
        dt, shape, raw = f.tensors[name]
        f.tensors[name] = ("F32" if dt == "U8" else "U8", shape, raw)


HOSTILE_PAIRS: list[Any] = [[0, 0], [-1, 1], [1, 0], [2**20, 2**20], [2**31, 1], [10**6, 3],
                            [255, 255], [1024, 1024], [2**63 - 1, 1], [1.5, 2], [1]]
STEPS: list[dict[str, Any]] = [
    {"op": "max_pool2d", "kernel": [1024, 1024], "padding": [512, 512]},
    {"op": "avg_pool2d", "kernel": [2, 2], "stride": [2**40, 1]},
    {"op": "max_pool2d", "kernel": [300, 300], "stride": [1, 1], "padding": [150, 150]},
    {"op": "reshape", "shape": [2**40, 0]}, {"op": "reshape", "shape": [-1]},
    {"op": "flatten"}, {"op": "relu"}, {"op": "conv"}, {"op": "max_pool2d"},
]


def edit_attrs(f: EieFile, rng: random.Random) -> None:
    """A layer's attributes (convolution geometry, the steps between layers, the graph's input
    shape) given hostile pairs, values or steps."""
    lh = rng.choice(f.header["layers"])
    attrs = lh.setdefault("attrs", {})
    what = rng.random()
    if what < 0.4:
        attrs[rng.choice(["stride", "padding", "dilation", "weight_shape"])] = copy.deepcopy(
            rng.choice([*HOSTILE_PAIRS, [2, 1, 2**20, 2**20], [1, 1, 0, 1], [2**40] * 4]))
    elif what < 0.8:
        steps = attrs.setdefault(rng.choice(["then", "before"]), [])
        if isinstance(steps, list):
            step = copy.deepcopy(rng.choice(STEPS))
            if step.get("kernel") and rng.random() < 0.5:
                step[rng.choice(["kernel", "stride", "padding"])] = copy.deepcopy(
                    rng.choice(HOSTILE_PAIRS))
            steps.insert(rng.randrange(len(steps) + 1), step)
    else:
        graph = f.header.setdefault("metadata", {}).setdefault("graph", {})
        graph["input_shape"] = copy.deepcopy(rng.choice(
            [[1, 64, 64], [2, 64, 64], [1, 1, 1], [64, 64, 64], [1], [0, 8, 8]]))


STRUCTURED: list[Callable[[EieFile, random.Random], None]] = [
    edit_header_value, edit_header_value, edit_header_value, delete_header_key, edit_layer_list,
    edit_col_ptr, edit_col_ptr, edit_col_ptr, edit_entries, edit_entries, edit_huffman,
    edit_tensor_bytes, edit_tensor_bytes, edit_tensor_table, edit_attrs, edit_attrs,
]


def _text_edit(text: str, rng: random.Random) -> str:
    op = rng.randrange(3)
    if op == 0:  # a key given twice, the second time with a hostile value
        keys = re.findall(r'"([a-z_0-9]+)": ', text)
        if keys:
            k = rng.choice(keys)
            return text.replace(f'"{k}": ', f'"{k}": {json.dumps(rng.choice(HOSTILE))}, '
                                f'"{k}": ', 1)
    if op == 1:  # a number replaced by a token json reads as a float
        nums = list(re.finditer(r"(?<![\w.])\d+(?![\w.])", text))
        if nums:
            m = rng.choice(nums)
            tok = rng.choice(["Infinity", "-Infinity", "NaN", "1e999", "-0", "1" + "0" * 400])
            return text[:m.start()] + tok + text[m.end():]
    depth = rng.choice([100, 1000, 100_000])  # deep nesting
    return text.replace('"metadata": ', '"metadata": ' + "[" * depth + "]" * depth + ", "
                        '"metadata_": ', 1)


def mutate_eie(seed: bytes, rng: random.Random) -> bytes:
    kind = rng.random()
    if kind < 0.12:  # raw bit flips (CRCs not fixed)
        b = bytearray(seed)
        for _ in range(rng.randint(1, 8)):
            j = rng.randrange(len(b))
            b[j] ^= 1 << rng.randrange(8)
        return bytes(b)
    if kind < 0.2:  # truncation
        return seed[: rng.randrange(len(seed))]
    f = EieFile.parse(seed)
    for _ in range(rng.randint(1, 3)):
        try:
            rng.choice(STRUCTURED)(f, rng)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError):
            pass  # an earlier edit removed what this one looks for: keep what was done
    fix = rng.random() < 0.9
    text = _text_edit(json.dumps(f.header, sort_keys=True), rng) if kind < 0.3 else None
    try:
        return f.to_bytes(fix_crc=fix, header_text=text)
    except (TypeError, ValueError, KeyError):
        return f.to_bytes(fix_crc=False, header_text=text)


# ------------------------------------------------------------------------- simulator folders
def _files(d: Path) -> list[Path]:
    return sorted(p for p in d.rglob("*") if p.is_file())


def mutate_folder(seed: Path, dest: Path, rng: random.Random) -> None:
    """``dest`` becomes a mutated copy of the simulator folder ``seed``."""
    shutil.copytree(seed, dest)
    for _ in range(rng.randint(1, 3)):
        files = _files(dest)
        if not files:
            return
        try:
            _edit_folder(dest, rng.choice(files), rng)
        except OSError:
            pass  # an edit the file system refused: keep the earlier ones


def _edit_folder(dest: Path, path: Path, rng: random.Random) -> None:
    """One edit of one file of a simulator folder."""
    raw = bytearray(path.read_bytes())
    op = rng.randrange(9)
    if op == 0 and raw:  # bit flips
        for _ in range(rng.randint(1, 4)):
            j = rng.randrange(len(raw))
            raw[j] ^= 1 << rng.randrange(8)
    elif op == 1:  # truncation
        raw = raw[: rng.randrange(len(raw) + 1)]
    elif op == 2:  # extension
        raw += bytes(rng.randrange(256) for _ in range(rng.choice([1, 4, 8, 400])))
    elif op in (3, 4) and len(raw) >= 4:  # a uint32 set to a hostile value
        j = 4 * rng.randrange(len(raw) // 4)
        raw[j:j + 4] = rng.choice(HOSTILE_U32).to_bytes(4, "little")
    elif op == 5 and len(raw) >= 4:  # a float32 set to NaN / infinity / huge
        j = 4 * rng.randrange(len(raw) // 4)
        raw[j:j + 4] = np.array([rng.choice([np.nan, np.inf, -np.inf, 3e38])],
                                "<f4").tobytes()
    elif op == 6:
        path.unlink()
        return
    elif op == 7:  # an extra PE, or a gap in the PE numbering
        ptr = dest / "ptr"
        if ptr.is_dir():
            k = rng.choice([len(list(ptr.iterdir())), 99, 4096])
            if path != ptr / f"ptr{k}.dat":
                shutil.copy(path, ptr / f"ptr{k}.dat")
        return
    else:  # a folder where a file should be
        path.unlink()
        path.mkdir()
        return
    path.write_bytes(bytes(raw))
