"""Surgery on ``.eie`` files for hostile-input tests: split a file into its safetensors header,
its eie header and its tensors, edit any of them, and write it back with (or without) valid CRCs.

The safetensors container is rebuilt by hand (8-byte little-endian header length, JSON header
with each tensor's dtype, shape and byte offsets, then the tensor bytes) so that edits the
library's writer would refuse (inconsistent counts, hostile values, duplicated keys) can be made.
"""

from __future__ import annotations

import copy
import json
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from eie.formats import bitpack

DTYPES = {"U8": np.uint8, "F32": np.float32}


@dataclass
class EieFile:
    header: dict[str, Any]
    """The eie JSON header (``magic``, ``layers``, ...)."""
    tensors: dict[str, tuple[str, list[int], bytes]] = field(default_factory=dict)
    """name -> (safetensors dtype, shape, raw bytes), in file order."""

    @classmethod
    def parse(cls, data: bytes) -> EieFile:
        n = int.from_bytes(data[:8], "little")
        st = json.loads(data[8:8 + n])
        header = json.loads(st.pop("__metadata__")["eie"])
        body = data[8 + n:]
        tensors = {}
        for name, info in sorted(st.items(), key=lambda kv: kv[1]["data_offsets"][0]):
            b, e = info["data_offsets"]
            tensors[name] = (info["dtype"], list(info["shape"]), bytes(body[b:e]))
        return cls(header, tensors)

    def copy(self) -> EieFile:
        return EieFile(copy.deepcopy(self.header), dict(self.tensors))

    # ------------------------------------------------------------------------------- edits
    def layer(self, i: int = 0) -> dict[str, Any]:
        return self.header["layers"][i]

    def set_tensor(self, name: str, raw: bytes, dtype: str | None = None) -> None:
        old_dtype = self.tensors[name][0] if name in self.tensors else "U8"
        dt = dtype or old_dtype
        size = np.dtype(DTYPES.get(dt, np.uint8)).itemsize
        self.tensors[name] = (dt, [len(raw) // size], raw)

    def fix_crcs(self) -> None:
        """Every stream CRC in the eie header recomputed from the tensor bytes."""
        layers = self.header.get("layers") if isinstance(self.header, dict) else None
        for i, lh in enumerate(layers if isinstance(layers, list) else []):
            if not isinstance(lh, dict) or not isinstance(lh.get("streams"), dict):
                continue
            for key, info in lh["streams"].items():
                name = f"{i}.{key}"
                if isinstance(info, dict) and name in self.tensors:
                    info["crc32"] = zlib.crc32(self.tensors[name][2])

    def col_ptr(self, i: int = 0) -> np.ndarray:
        info = self.layer(i)["streams"]["col_ptr"]
        raw = np.frombuffer(self.tensors[f"{i}.col_ptr"][2], np.uint8)
        return bitpack.unpack(raw, info["bits"], info["count"]).astype(np.int64)

    def set_col_ptr(self, values: np.ndarray, i: int = 0, bits: int = 64) -> None:
        """Re-pack the column pointers (any values < 2**64) at ``bits`` bits."""
        info = self.layer(i)["streams"]["col_ptr"]
        v = np.asarray(values).astype(np.uint64).ravel()
        info["bits"], info["count"] = bits, int(v.size)
        self.set_tensor(f"{i}.col_ptr", bitpack.pack(v, bits).tobytes())

    # ------------------------------------------------------------------------------- write
    def to_bytes(self, fix_crc: bool = True, header_text: str | None = None) -> bytes:
        """The file; ``header_text`` replaces the eie header's JSON text (e.g. duplicated keys)."""
        if fix_crc:
            self.fix_crcs()
        st: dict[str, Any] = {}
        offset = 0
        for name, (dtype, shape, raw) in self.tensors.items():
            st[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
            offset += len(raw)
        st["__metadata__"] = {"eie": header_text if header_text is not None
                              else json.dumps(self.header, sort_keys=True)}
        text = json.dumps(st).encode()
        text += b" " * (-len(text) % 8)
        return len(text).to_bytes(8, "little") + text + b"".join(r for _, _, r in
                                                               self.tensors.values())
