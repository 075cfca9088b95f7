"""Shared cases and the named tolerance for every engine back-end."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from eie.engine import available_isas, reference, spmv
from eie.formats import EIEMatrix

FLOAT_TOL = 2e-5
"""Float back-ends must satisfy |y - y_exact| <= FLOAT_TOL * (|W| @ |x| + |b|) + 1e-30 per output,
y_exact being the float64 product: fp32 accumulation of up to ~10^4 products, either order,
fused or not, stays far inside it."""

BACKENDS = ["reference", *available_isas()]
"""The Python reference plus every ISA this CPU runs (scalar always; AVX-512 where present)."""

ALL_BACKENDS = ["reference", "scalar", "avx2", "avx512"]

CODEBOOK = np.array([0.0, -0.75, -0.5, -0.25, -0.125, -0.0625, -0.03125, -0.015625,
                     0.015625, 0.03125, 0.0625, 0.125, 0.25, 0.5, 0.75, 1.0], np.float32)

WIDE_CODEBOOK = np.concatenate(
    ([0.0], np.linspace(-1.0, 1.0, 255) * (1 + np.arange(255) % 3) / 3)).astype(np.float32)
"""256 entries (8-bit codes): the kernels' 8-bit layouts."""

MID_CODEBOOK = np.concatenate(([0.0], np.linspace(-0.5, 0.5, 31))).astype(np.float32)
"""32 entries (5-bit codes, as in Deep Compression's LeNet recipe): also 8-bit layouts."""

CODEBOOKS = {"4bit": CODEBOOK, "5bit": MID_CODEBOOK, "8bit": WIDE_CODEBOOK}


def random_matrix(rng: np.random.Generator, rows: int, cols: int, density: float,
                  num_pes: int = 4, index_bits: int = 4, empty_cols: int = 0,
                  codebook: npt.NDArray[np.float32] = CODEBOOK) -> EIEMatrix:
    mask = rng.random((rows, cols)) < density
    codes = np.where(mask, rng.integers(1, len(codebook), (rows, cols)), 0).astype(np.uint8)
    if empty_cols and cols:
        codes[:, rng.choice(cols, min(empty_cols, cols), replace=False)] = 0
    return EIEMatrix.from_codes(codes, codebook, num_pes=num_pes, index_bits=index_bits)


def random_input(rng: np.random.Generator, shape: tuple[int, ...], density: float
                 ) -> npt.NDArray[np.float32]:
    x = rng.standard_normal(shape).astype(np.float32)
    return np.where(rng.random(shape) < density, x, np.float32(0)).astype(np.float32)


def exact(m: EIEMatrix, x: npt.NDArray, bias: npt.NDArray | None, activation: str | None
          ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(float64 result, per-output error scale |W| @ |x| + |b|) for x (cols,) or (batch, cols)."""
    w = m.to_dense().astype(np.float64)
    xf = np.asarray(x, np.float64)
    y = xf @ w.T
    scale = np.abs(xf) @ np.abs(w).T
    if bias is not None:
        y = y + bias.astype(np.float64)
        scale = scale + np.abs(bias.astype(np.float64))
    if activation == "relu":
        y = np.maximum(y, 0.0)
    return y, scale


def run_backend(backend: str, m: EIEMatrix, x: npt.NDArray, bias: npt.NDArray | None = None,
                activation: str | None = None, layout: str = "auto", threads: int | None = None,
                input_dtype: str | None = None) -> npt.NDArray[np.float32]:
    if backend == "reference":
        xs = np.asarray(x, np.float32)
        if xs.ndim == 1:
            return reference.spmv(m, xs, bias, activation)
        return np.stack([reference.spmv(m, v, bias, activation) for v in xs])
    return spmv(m, x, bias, activation, threads=threads, layout=layout, isa=backend,
                input_dtype=input_dtype)


def assert_close(y: npt.NDArray, y_exact: npt.NDArray, scale: npt.NDArray) -> None:
    y = np.asarray(y, np.float64)
    assert y.shape == y_exact.shape
    err = np.abs(y - y_exact)
    bound = FLOAT_TOL * scale + 1e-30
    worst = np.unravel_index(np.argmax(err - bound), err.shape) if err.size else None
    assert np.all(err <= bound), (f"error {err[worst]} > bound {bound[worst]} at {worst}"
                                  if worst is not None else "")


def to_bf16_bits(x: npt.NDArray[np.float32]) -> npt.NDArray[np.uint16]:
    """Truncate float32 to bfloat16 bits (the test then uses the exact bf16 values)."""
    return (np.ascontiguousarray(x, np.float32).view(np.uint32) >> 16).astype(np.uint16)


def from_bf16_bits(b: npt.NDArray[np.uint16]) -> npt.NDArray[np.float32]:
    return (b.astype(np.uint32) << 16).view(np.float32)


def shared_dense(rng: np.random.Generator, rows: int, cols: int) -> EIEMatrix:
    """A dense 4-bit layer (codes 1..15, no zero weights) with one random shared codebook."""
    codes = rng.integers(1, 16, (rows, cols))
    cb = rng.standard_normal(16).astype(np.float32)
    cb[0] = 0.0
    return EIEMatrix.from_codes(codes, cb, num_pes=4)
