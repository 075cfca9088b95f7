"""Golden vectors of the reference engine, versioned, so its semantics cannot drift silently.

The cases: layers with fillers, PEs without rows, odd shapes, zero and negative activations, and
the fixed-point path with saturation. Their inputs were drawn once from fixed seeds (``write``)
and are stored with the outputs: ``check`` reads every input (codes, codebook, layout, x, bias)
from the file and recomputes only the outputs, so a change in numpy's random streams cannot
change what is checked. The file is a safetensors file whose metadata carries a magic string and
a format version; ``check`` says which array changed and how to regenerate the file::

    python -m eie.engine.golden tests/golden/reference_v2.safetensors
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import numpy.typing as npt

from eie.engine import reference
from eie.engine.fixed_point import FixedPointFormat
from eie.errors import FormatError
from eie.formats.eie_matrix import EIEMatrix

MAGIC = "eie-golden-reference"
VERSION = 2
"""2: the inputs (codebook, bias, layout) are stored too; 1 stored only codes and x."""
DEFAULT_PATH = "tests/golden/reference_v2.safetensors"
REGENERATE = f"python -m eie.engine.golden {DEFAULT_PATH}"
INPUTS = ("codes", "codebook", "layout", "x", "bias")
"""Stored per case: ``codes`` (rows, cols) uint8, ``codebook`` float32, ``layout`` int64
``[num_pes, index_bits]``, ``x`` (cols,) and ``bias`` (rows,) float32."""
OUTPUTS = ("float_relu", "float_linear", "fixed_relu", "fixed_linear")
# (name, rows, cols, weight density, act density, num_pes, index_bits, seed, activation scale)
CASES = [
    ("tiny_1x1", 1, 1, 1.0, 1.0, 1, 4, 0, 1.0),
    ("pes_without_rows", 3, 17, 0.5, 0.5, 8, 4, 1, 1.0),
    ("fillers_2bit", 70, 15, 0.05, 0.6, 2, 2, 2, 1.0),
    ("odd_33x31", 33, 31, 0.3, 0.35, 4, 4, 3, 1.0),
    ("saturating", 16, 64, 0.9, 1.0, 4, 3, 4, 12.0),  # outputs beyond int16 at 8 frac bits
]
FMT = FixedPointFormat(act_frac_bits=8, weight_frac_bits=12)


def build_case(rows: int, cols: int, wd: float, ad: float, pes: int, bits: int, seed: int,
               scale: float) -> tuple[EIEMatrix, npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    rng = np.random.default_rng(seed)
    codes = np.where(rng.random((rows, cols)) < wd, rng.integers(1, 16, (rows, cols)), 0)
    codebook = np.concatenate(([0.0], rng.uniform(-2, 2, 15))).astype(np.float32)
    x = np.where(rng.random(cols) < ad, rng.normal(0, 3 * scale, cols), 0).astype(np.float32)
    bias = rng.normal(0, 1, rows).astype(np.float32)
    return EIEMatrix.from_codes(codes, codebook, pes, bits), x, bias


def inputs() -> dict[str, np.ndarray]:
    """Every case's inputs, drawn from its seed (only ``write`` draws them)."""
    out: dict[str, np.ndarray] = {}
    for name, *params in CASES:
        m, x, bias = build_case(*params)  # type: ignore[arg-type]
        out[f"{name}.codes"] = m.to_codes()
        out[f"{name}.codebook"] = m.codebook
        out[f"{name}.layout"] = np.array([m.num_pes, m.index_bits], np.int64)
        out[f"{name}.x"] = x
        out[f"{name}.bias"] = bias
    return out


def outputs(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The reference engine's outputs (float and fixed point) for the cases in ``arrays``."""
    out: dict[str, np.ndarray] = {}
    for name in case_names(arrays):
        num_pes, index_bits = (int(v) for v in arrays[f"{name}.layout"])
        m = EIEMatrix.from_codes(arrays[f"{name}.codes"], arrays[f"{name}.codebook"], num_pes,
                                 index_bits)
        x, bias = arrays[f"{name}.x"], arrays[f"{name}.bias"]
        out[f"{name}.float_relu"] = reference.spmv(m, x, bias, "relu")
        out[f"{name}.float_linear"] = reference.spmv(m, x, None, None)
        out[f"{name}.fixed_relu"] = reference.spmv_fixed(m, FMT.quantize_act(x), bias, "relu",
                                                         FMT)
        out[f"{name}.fixed_linear"] = reference.spmv_fixed(m, FMT.quantize_act(x), bias, None,
                                                           FMT)
    return out


def case_names(arrays: dict[str, np.ndarray]) -> list[str]:
    return sorted({k.rsplit(".", 1)[0] for k in arrays})


def compute() -> dict[str, np.ndarray]:
    """Every case's inputs (from the seeds) and outputs: what ``write`` stores."""
    arrays = inputs()
    return {**arrays, **outputs(arrays)}


def write(path: str | os.PathLike[str]) -> Path:
    from safetensors.numpy import save

    from eie._io import write_atomic

    blob = save(compute(), metadata={"magic": MAGIC, "version": str(VERSION)})
    return write_atomic(path, blob)


def read(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as f:
        meta = f.metadata() or {}
        if meta.get("magic") != MAGIC or meta.get("version") != str(VERSION):
            raise FormatError(f"{path}: not version {VERSION} golden vectors (found magic "
                              f"{meta.get('magic')!r}, version {meta.get('version')!r}); "
                              f"regenerate with `{REGENERATE}`")
        return {k: f.get_tensor(k) for k in f.keys()}


def check(path: str | os.PathLike[str]) -> list[str]:
    """Names of the arrays whose stored and recomputed values differ (empty: all equal). The
    inputs come from the file; missing or extra arrays are named too."""
    stored = read(path)
    expected = {f"{name}.{k}" for name, *_ in CASES for k in (*INPUTS, *OUTPUTS)}
    if set(stored) != expected:
        return sorted(set(stored) ^ expected)
    bad = []
    for k, v in outputs(stored).items():
        s = stored[k]
        same = (np.array_equal(v, s) if v.dtype != np.float32
                else np.allclose(v, s, rtol=1e-6, atol=1e-6))
        if not same or v.dtype != s.dtype:
            bad.append(k)
    return bad


if __name__ == "__main__":  # the command line lives in eie.cli
    from eie.cli.golden_cmd import main

    raise SystemExit(main())
