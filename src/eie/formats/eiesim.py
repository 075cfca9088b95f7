"""Import and export of the EIE authors' simulator data layout.

A layer is a folder of little-endian, headerless files:

- ``arithm.dat``: float32 codebook (entry 0 is 0.0);
- ``act.dat``: float32 input activations, one per weight column;
- ``ptr/ptr{k}.dat``: uint32 column pointers of PE k, ``cols + 2`` values (the weight columns, then
  one bias column multiplied by an implicit activation of 1.0; first 0, last = entry count);
- ``spm/spm{k}.dat``: uint32 pairs ``(code, relative_index)`` of PE k, fillers included.

Rows are interleaved over the PEs (row i on PE i % N) and encoded exactly as ``EIEMatrix`` does
with ``index_bits=4``, so ``save(load(d))`` reproduces every file byte for byte. The number of
rows is not stored in the layout; ``load`` infers it from the highest row present (bias column
included) unless ``rows`` is given.

>>> # matrix, bias, act = load("path/to/eie-simulator-alexnet-fc8")   # matrix: 1000 x 4096
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
import numpy.typing as npt

from eie.errors import FormatError
from eie.formats._validate import MAX_DIM, MAX_PES
from eie.formats.eie_matrix import EIEMatrix

INDEX_BITS = 4
LAYOUT_ENTRIES = frozenset({"arithm.dat", "act.dat", "ptr", "spm"})
"""What a simulator folder holds; ``save`` replaces a folder holding nothing else."""


def _read(path: Path, dtype: str) -> np.ndarray:
    if not path.is_file():
        raise FormatError(f"{path}: missing; an EIE simulator folder needs arithm.dat, act.dat, "
                          "ptr/ptr{k}.dat and spm/spm{k}.dat")
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise FormatError(f"{path}: cannot be read ({e.strerror or e})") from None
    itemsize = np.dtype(dtype).itemsize
    if len(raw) % itemsize:
        raise FormatError(f"{path}: {len(raw)} bytes is not a whole number of {dtype} values")
    return np.frombuffer(raw, dtype=dtype)


def _num_pes(folder: Path) -> int:
    ptr_dir = folder / "ptr"
    if not ptr_dir.is_dir():
        raise FormatError(f"{folder}: no ptr/ folder; is this an EIE simulator data folder?")
    try:
        names = [f.name for f in ptr_dir.iterdir()]
    except OSError as e:
        raise FormatError(f"{ptr_dir}: cannot be listed ({e.strerror or e})") from None
    ks = sorted(int(m.group(1)) for name in names
                if (m := re.fullmatch(r"ptr(\d{1,9})\.dat", name)))
    if len(ks) > MAX_PES:
        raise FormatError(f"{ptr_dir}: {len(ks)} PEs, at most {MAX_PES} are supported")
    if not ks or ks != list(range(len(ks))):
        raise FormatError(f"{ptr_dir}: expected ptr0.dat .. ptr{{N-1}}.dat, found PEs {ks[:8]}...")
    return len(ks)


def load(folder: str | os.PathLike[str], rows: int | None = None
         ) -> tuple[EIEMatrix, npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Read a simulator folder: ``(matrix, bias, activations)``, the bias column split out.

    Memory is bounded by the files' sizes plus ``rows`` floats: nothing is decoded densely.
    """
    if rows is not None and (type(rows) is not int or not 0 <= rows <= MAX_DIM):
        raise FormatError(f"rows should be an integer in 0..{MAX_DIM}, found {rows!r}")
    d = Path(folder)
    if not d.is_dir():
        raise FormatError(f"{d}: not a folder; expected an EIE simulator data folder")
    codebook = _read(d / "arithm.dat", "<f4").astype(np.float32)
    act = _read(d / "act.dat", "<f4").astype(np.float32)
    if not np.all(np.isfinite(act)):
        raise FormatError(f"{d / 'act.dat'}: activations contain NaN or infinity")
    num_pes = _num_pes(d)
    cols = len(act)
    if cols >= MAX_DIM:
        raise FormatError(f"{d / 'act.dat'}: {cols} activations, at most {MAX_DIM - 1} are "
                          "supported")
    codes_parts, rel_parts, ptrs = [], [], []
    for k in range(num_pes):
        ptr = _read(d / "ptr" / f"ptr{k}.dat", "<u4").astype(np.int64)
        if len(ptr) != cols + 2:
            raise FormatError(f"ptr{k}.dat holds {len(ptr)} pointers; expected cols + 2 = "
                              f"{cols + 2} ({cols} activations in act.dat, plus the bias column)")
        pairs = _read(d / "spm" / f"spm{k}.dat", "<u4")
        if len(pairs) % 2:
            raise FormatError(f"spm{k}.dat holds an odd number of uint32 values; expected pairs")
        pairs = pairs.reshape(-1, 2)
        if int(ptr[-1]) != len(pairs) or int(ptr[0]) != 0:
            raise FormatError(f"ptr{k}.dat should run from 0 to the {len(pairs)} entries of "
                              f"spm{k}.dat, found {int(ptr[0])} .. {int(ptr[-1])}")
        if np.any(np.diff(ptr) < 0):
            raise FormatError(f"ptr{k}.dat should be non-decreasing")
        if pairs.size and int(pairs.max()) > 255:
            raise FormatError(f"spm{k}.dat: codes and relative indices should be < 256, found "
                              f"{int(pairs.max())}")
        codes_parts.append(pairs[:, 0].astype(np.uint8))
        rel_parts.append(pairs[:, 1].astype(np.uint8))
        ptrs.append(ptr)
    col_ptr = np.stack(ptrs)
    pe_offset = np.zeros(num_pes + 1, np.int64)
    np.cumsum(col_ptr[:, -1], out=pe_offset[1:])
    codes = np.concatenate(codes_parts)
    rel = np.concatenate(rel_parts)
    if rows is None:
        rows = _infer_rows(codes, rel, col_ptr, num_pes)
    full = EIEMatrix(codes, rel, pe_offset, col_ptr, codebook, (rows, cols + 1), num_pes,
                     INDEX_BITS, max(4, (len(codebook) - 1).bit_length()))
    return _split_bias_column(full), _bias_column(full), act


def _split_bias_column(full: EIEMatrix) -> EIEMatrix:
    """The weight columns of a validated matrix whose last column is the bias: each PE's entries
    up to its bias column's first entry, pointers without the last one."""
    cols = full.cols - 1
    keep = full.col_ptr[:, cols]  # (num_pes,) weight entries per PE
    parts = [np.arange(full.pe_offset[k], full.pe_offset[k] + keep[k]) for k in range(full.num_pes)]
    idx = np.concatenate(parts) if parts else np.zeros(0, np.int64)
    pe_offset = np.zeros(full.num_pes + 1, np.int64)
    np.cumsum(keep, out=pe_offset[1:])
    return EIEMatrix(np.ascontiguousarray(full.codes[idx]),
                     np.ascontiguousarray(full.rel_index[idx]), pe_offset,
                     np.ascontiguousarray(full.col_ptr[:, :cols + 1]), full.codebook.copy(),
                     (full.rows, cols), full.num_pes, full.index_bits, full.weight_bits)


def _bias_column(full: EIEMatrix) -> npt.NDArray[np.float32]:
    """``(rows,)`` float32: the codebook value of each row's entry in the last (bias) column."""
    bias_codes = np.zeros(full.rows, np.int64)
    last = full.cols - 1
    for k in range(full.num_pes):
        sl = full.pe(k)
        lo, hi = int(sl.col_ptr[last]), int(sl.col_ptr[last + 1])
        local = np.cumsum(sl.rel_index[lo:hi].astype(np.int64) + 1) - 1
        bias_codes[local * full.num_pes + k] = sl.codes[lo:hi]  # validated: rows in range
    return full.codebook[bias_codes]


def _infer_rows(codes: np.ndarray, rel: np.ndarray, col_ptr: np.ndarray, num_pes: int) -> int:
    """Highest global row holding an entry, plus one (without validation: the EIEMatrix built
    from it validates)."""
    rows = 0
    offset = 0
    for k in range(num_pes):
        ptr = col_ptr[k]
        n = int(ptr[-1])
        if n == 0:
            continue
        steps = rel[offset:offset + n].astype(np.int64) + 1
        csum = np.cumsum(steps)
        seg_start = np.concatenate(([0], csum))[np.clip(ptr[:-1], 0, n)]
        seg_len = np.diff(np.clip(ptr, 0, n))
        if seg_len.sum() != n:
            raise FormatError(f"ptr{k}.dat is inconsistent with spm{k}.dat ({n} entries)")
        local = csum - np.repeat(seg_start, seg_len) - 1
        real = codes[offset:offset + n] != 0
        if real.any():
            rows = max(rows, int(local[real].max()) * num_pes + k + 1)
        offset += n
    return rows


def quantize_bias(bias: npt.ArrayLike, codebook: npt.ArrayLike
                  ) -> tuple[npt.NDArray[np.float32], float]:
    """Each bias value replaced by its nearest codebook entry (ties to the lower index), and
    the largest absolute error that made: what the simulator layout can store.

    >>> b, err = quantize_bias([0.3, -0.9], np.array([0.0, 0.5, -1.0], np.float32))
    >>> b.tolist(), round(err, 6)
    ([0.5, -1.0], 0.2)
    """
    b = np.asarray(bias, np.float32)
    cb = np.asarray(codebook, np.float32)
    if b.size == 0:
        return b.copy(), 0.0
    idx = np.argmin(np.abs(b[:, None].astype(np.float64) - cb[None, :]), axis=1)
    q = cb[idx].astype(np.float32)
    return q, float(np.max(np.abs(q.astype(np.float64) - b)))


def save(folder: str | os.PathLike[str], matrix: EIEMatrix, bias: npt.ArrayLike,
         activations: npt.ArrayLike) -> Path:
    """Write the simulator layout. Every bias value must be a codebook entry (the layout stores
    the bias as one more weight column).

    The folder is written whole under a temporary name next to it, then renamed: a failure
    (full disk, interruption) leaves no partial folder. An existing ``folder`` is replaced only
    when it is empty or holds nothing but a simulator layout; otherwise FormatError.
    """
    d = Path(folder)
    if not isinstance(matrix, EIEMatrix):
        raise FormatError(f"matrix should be an EIEMatrix, found {type(matrix).__name__}")
    try:
        b = np.asarray(bias, np.float32)
        act = np.asarray(activations, np.float32)
    except (TypeError, ValueError) as e:
        raise FormatError(f"bias and activations should be float arrays: {e}") from None
    if b.shape != (matrix.rows,):
        raise FormatError(f"bias should have shape ({matrix.rows},), found {b.shape}")
    if act.shape != (matrix.cols,):
        raise FormatError(f"activations should have shape ({matrix.cols},), found {act.shape}")
    if not np.all(np.isfinite(b)):
        raise FormatError("bias contains NaN or infinity")
    if not np.all(np.isfinite(act)):
        raise FormatError("activations contain NaN or infinity")
    if matrix.index_bits != INDEX_BITS:
        matrix = matrix.with_num_pes(matrix.num_pes, INDEX_BITS)
    lookup = {float(v): i for i, v in reversed(list(enumerate(matrix.codebook)))}
    missing = [float(v) for v in b if float(v) not in lookup]
    if missing:
        raise FormatError(f"{len(missing)} bias values (e.g. {missing[0]!r}) are not codebook "
                          "entries; the simulator layout stores the bias as one more column of "
                          "codebook codes, so quantize it to the codebook first (eie convert "
                          "--quantize-bias, or eiesim.quantize_bias)")
    bias_codes = np.array([lookup[float(v)] for v in b], np.uint8)
    full = EIEMatrix.from_codes(np.concatenate([matrix.to_codes(), bias_codes[:, None]], axis=1),
                                matrix.codebook, matrix.num_pes, INDEX_BITS, matrix.weight_bits)
    _check_replaceable(d)
    d.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{d.name}.", suffix=".tmp", dir=d.parent))
    try:
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; give the folder the usual mode
        (tmp / "ptr").mkdir()
        (tmp / "spm").mkdir()
        _write(tmp / "arithm.dat", matrix.codebook.astype("<f4").tobytes())
        _write(tmp / "act.dat", act.astype("<f4").tobytes())
        for k in range(full.num_pes):
            sl = full.pe(k)
            _write(tmp / "ptr" / f"ptr{k}.dat", sl.col_ptr.astype("<u4").tobytes())
            pairs = np.stack([sl.codes, sl.rel_index], axis=1).astype("<u4")
            _write(tmp / "spm" / f"spm{k}.dat", pairs.tobytes())
        _replace_folder(tmp, d)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return d


def _check_replaceable(d: Path) -> None:
    if not d.exists() and not d.is_symlink():
        return
    if d.is_symlink() or not d.is_dir():
        raise FormatError(f"{d}: exists and is not a folder; choose a new or empty folder")
    foreign = sorted(p.name for p in d.iterdir() if p.name not in LAYOUT_ENTRIES)
    if foreign:
        raise FormatError(f"{d}: holds files other than a simulator layout (e.g. {foreign[0]!r});"
                          " choose a new or empty folder")


def _replace_folder(tmp: Path, d: Path) -> None:
    """Rename the complete ``tmp`` to ``d``; an old ``d`` is moved aside first, then removed."""
    if not d.exists():
        os.rename(tmp, d)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{d.name}.", suffix=".old", dir=d.parent))
    os.rename(d, old / "layout")
    try:
        os.rename(tmp, d)
    except BaseException:
        os.rename(old / "layout", d)  # put the old folder back
        raise
    finally:
        shutil.rmtree(old, ignore_errors=True)


def _write(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
