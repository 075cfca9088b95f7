"""Quantized Linear layers on eie's kernels: ``QuantizedWeight`` -> ``EIEMatrix`` -> ``Engine``.

Each layer is converted once, at load, into the engine's representation with no change to a
single weight value (``EIEMatrix.to_dense()`` equals ``QuantizedWeight.dequantize()`` bit for
bit, a test checks it):

- codes with per-row or per-group-of-rows tables (``--codebook row | group:N``; every code a
  value, ``zero_code=False``): one ``EIEMatrix.from_group_codes`` with ``group_rows`` rows per
  codebook, run on the rowwise layout;
- tables per block of input columns (``int4 --group 128``, ``nf4``, ``iq4nl``, ``cols:N``): the
  table of (row group, column group) ``g`` is a 16-entry codebook of that block, so the matrix is
  split into column blocks ``W = [W_0 | W_1 | ...]``, each block a per-row-codebook matrix, and
  ``y = sum_b W_b x_b`` (one kernel call per block, fp32 accumulation);
- pruned layers with at most 8 table entries (<= 3 bits): code + 1, entry 0 = 0.0
  (``zero_code=True``); 4-bit pruned layers, fp16 / bf16 layers and kept (float32) layers run as
  dense float32 matrices on torch's GEMV (``kind == "dense-fallback"``, reported by the
  runtime), or with ``dense_dtype="float16"`` rounded once to float16 on the engine's float16
  GEMV (half the bytes per token: SmolLM2's tied LM head).

Layers reading the same input (q/k/v, gate/up) can be fused into one matrix (rows stacked, one
kernel call), when each is a single per-row-codebook block with the same code width.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from eie import _core
from eie.engine import Engine
from eie.errors import ConfigError, EngineError
from eie.formats.eie_matrix import EIEMatrix
from eie.formats.model import Layer
from eie.llm.qweight import QuantizedWeight

F32 = npt.NDArray[np.float32]
MAX_TABLE = 16  # the rowwise layout's 4-bit codes


@dataclass(frozen=True)
class Block:
    """Columns ``[lo, hi)`` of a layer as one per-row-codebook matrix."""

    lo: int
    hi: int
    matrix: EIEMatrix


def to_blocks(q: QuantizedWeight) -> list[Block] | None:
    """The engine matrices of ``q`` (column blocks), or None when the kernels cannot take it
    unchanged (see the module docstring)."""
    if q.codes is None or q.tables is None:
        return None
    rows, cols = q.shape
    k = q.tables.shape[1]
    zero_code = q.mask is not None
    if k + int(zero_code) > MAX_TABLE:
        return None
    ncg = -(-cols // q.group_cols)
    blocks = []
    for cg in range(ncg):
        lo, hi = cg * q.group_cols, min(cols, (cg + 1) * q.group_cols)
        tables = np.ascontiguousarray(q.tables[cg::ncg], dtype=np.float32)  # (row groups, k)
        codes = q.codes[:, lo:hi]
        if zero_code:
            assert q.mask is not None
            codes = np.where(q.mask[:, lo:hi], codes + np.uint8(1), np.uint8(0)).astype(np.uint8)
            tables = np.concatenate([np.zeros((tables.shape[0], 1), np.float32), tables], axis=1)
        m = EIEMatrix.from_group_codes(np.ascontiguousarray(codes), tables,
                                       group_rows=min(q.group_rows, rows), num_pes=1,
                                       zero_code=zero_code)
        blocks.append(Block(lo, hi, m))
    return blocks


def fusable(qs: Sequence[QuantizedWeight | None]) -> bool:
    """True when ``qs`` (layers reading the same input) can be stacked into one matrix: single
    column block each, no mask, same code width and row grouping, groups not straddling two
    layers."""
    if len(qs) < 2 or any(q is None for q in qs):
        return False
    first = qs[0]
    assert first is not None
    for q in qs:
        assert q is not None
        if (q.codes is None or q.tables is None or q.mask is not None
                or q.group_cols < q.shape[1] or q.shape[1] != first.shape[1]
                or q.bits != first.bits or q.group_rows != first.group_rows
                or q.tables.shape[1] > MAX_TABLE):
            return False
    return all(q.shape[0] % first.group_rows == 0 for q in qs[:-1])  # type: ignore[union-attr]


def fuse(qs: Sequence[QuantizedWeight]) -> EIEMatrix:
    """One matrix whose rows are ``qs``' rows in order (``fusable(qs)`` must hold)."""
    codes = np.concatenate([q.codes for q in qs], axis=0)  # type: ignore[misc]
    tables = np.concatenate([q.tables for q in qs], axis=0)  # type: ignore[misc]
    gr = qs[0].group_rows
    return EIEMatrix.from_group_codes(codes, tables.astype(np.float32),
                                      group_rows=min(gr, codes.shape[0]), num_pes=1,
                                      zero_code=False)


class EngineLinear:
    """``y = x @ W.T + b`` for ``x`` of shape ``(tokens, in_features)`` float32, on the kernels.

    ``blocks`` of the weight run as one-layer ``Engine``s (prepared once here); ``dense`` is the
    float32 fallback weight when the kernels cannot take the layer. ``split`` gives the output
    widths of fused layers (q, k, v).
    """

    def __init__(self, name: str, rows: int, cols: int, blocks: list[Block] | None,
                 bias: F32 | None = None, dense: F32 | None = None, threads: int | None = None,
                 split: tuple[int, ...] | None = None, layout: str = "auto",
                 precision: str = "fp32", dense_dtype: str = "float32") -> None:
        if blocks is None and dense is None:
            raise EngineError(f"layer {name!r}: neither engine blocks nor a dense weight")
        if dense_dtype not in DENSE_DTYPES:
            raise ConfigError(f"the dense fallback's dtype should be one of {DENSE_DTYPES}, "
                              f"found {dense_dtype!r}")
        self.name = name
        self.rows, self.cols = rows, cols
        self.split = split or (rows,)
        if sum(self.split) != rows or min(self.split) < 1:
            raise EngineError(f"layer {name!r}: split {self.split} should be positive widths "
                              f"adding up to {rows}")
        ends = np.cumsum(self.split).tolist()
        self._bounds = list(zip([0, *ends[:-1]], ends, strict=True))
        self.bias = None if bias is None else np.array(bias, np.float32)  # the layer freezes it
        self.kind = "dense-fallback" if blocks is None else "engine"
        self.dense_dtype = dense_dtype if blocks is None else "float32"
        self.dense16: npt.NDArray[np.uint16] | None = None
        """The float16 fallback weight's bits (``dense_dtype="float16"``): the engine's float16
        GEMV (``eie.engine.kernels.gemv_f16``) reads half the bytes torch's float32 GEMV does."""
        if blocks is None and dense_dtype == "float16":
            assert dense is not None
            self.dense16 = half_bits(dense, name)
            dense = None
        self.dense = None if dense is None else np.ascontiguousarray(dense, np.float32)
        self._dense_t: Any = None
        self._bias_t: Any = None
        if self.dense is not None:
            import torch

            self._dense_t = torch.from_numpy(self.dense)
            self._bias_t = None if self.bias is None else torch.from_numpy(self.bias)
        self._blocks: list[tuple[int, int, Engine]] = []
        self._matrices = [b.matrix for b in blocks or []]
        self._threads = threads
        self.layout = layout
        self.precision = precision
        self.weights = rows * cols
        self.stream_bytes = (2 if self.dense16 is not None else 4) * rows * cols \
            if blocks is None else 0
        """Bytes the multiply reads per token: 4-bit codes (the rowwise layout's nibbles) plus
        the fp32 codebooks (under ``precision="int8"`` where its kernel runs: the int8 tables, 16
        bytes, and one float32 scale per codebook), or the float32 fallback weight."""
        from eie.engine import kernels

        cb_bytes = 16 + 4 if precision == "int8" and kernels.int8_runs() else 16 * 4
        for i, b in enumerate(blocks or []):
            layer = Layer(f"{name}[{b.lo}:{b.hi}]", b.matrix,
                          self.bias if i == 0 else None)
            self._blocks.append((b.lo, b.hi, Engine(layer, layout, threads=threads,
                                                    precision=precision)))
            groups = b.matrix.codebook.shape[0] if b.matrix.group_rows else 1
            self.stream_bytes += rows * -(-(b.hi - b.lo) // 128) * 64 + groups * cb_bytes
        self._single = self._blocks[0][2] if len(self._blocks) == 1 else None
        self._vector = None if self._single is None else self._single.vector_runner()

    def kernel_us(self) -> float | None:
        """Wall microseconds the last call spent inside the engine's C++ calls (measured there:
        input packing, the kernels, the epilogue; not the Python around them), or None for a
        dense fallback (torch's GEMV)."""
        if not self._blocks:
            return None
        return float(sum(sum(eng.timings_us.values()) for _lo, _hi, eng in self._blocks))

    def set_layout(self, layout: str) -> None:
        """Rebuild the kernels' layout of every block (``"auto"``: the rowwise one for per-row
        codebooks; ``zero_skipping_layout()`` where the engine has one); a dense fallback is
        unchanged."""
        if layout == self.layout or not self._blocks:
            return
        engines = []
        for i, ((lo, hi, _eng), m) in enumerate(zip(self._blocks, self._matrices, strict=True)):
            layer = Layer(f"{self.name}[{lo}:{hi}]", m, self.bias if i == 0 else None)
            engines.append((lo, hi, Engine(layer, layout, threads=self._threads,
                                           precision=self.precision)))
        self._blocks = engines
        self._single = self._blocks[0][2] if len(self._blocks) == 1 else None
        self._vector = None if self._single is None else self._single.vector_runner()
        self.layout = layout

    record: list[F32] | None = None
    """When a list, every input is appended to it (a copy): benchmarks replay them."""

    def __call__(self, x: F32) -> F32:
        """``x`` (tokens, cols) C-contiguous float32 -> (tokens, rows) float32."""
        if self.record is not None:
            self.record.append(x.copy())
        if x.shape[0] == 1 and self._single is not None:  # one C++ call, no chunking
            if self._vector is not None and x.dtype == np.float32 and x.flags.c_contiguous:
                return self._vector(x[0])[None]
            return self._single.run(x[0])[None]
        if self.dense16 is not None:
            from eie.engine import isa_check, kernels

            if x.dtype == np.float32 and x.flags.c_contiguous and x.shape == (1, self.cols) \
                    and isa_check._resolved:  # the decode's call: straight to the core
                y16 = np.empty((x.shape[0], self.rows), np.float32)
                _core.gemv_f16(self.dense16, x, y16, self._threads or 0, "")
            else:
                y16 = kernels.gemv_f16(self.dense16, x, threads=self._threads)
            if self.bias is not None:
                y16 += self.bias
            return y16
        if self.dense is not None:  # torch's GEMM/GEMV: its thread count is torch's
            import torch

            yt = torch.from_numpy(x) @ self._dense_t.T
            if self._bias_t is not None:
                yt += self._bias_t
            return yt.numpy()
        out: F32 | None = None
        for lo, hi, eng in self._blocks:
            xb = x if (lo, hi) == (0, self.cols) else np.ascontiguousarray(x[:, lo:hi])
            y = _run_chunks(eng, xb, self.rows)
            out = y if out is None else out + y
        assert out is not None
        return out

    def parts(self, y: F32) -> list[F32]:
        """Split a fused output into its layers' outputs (views; basic slices: np.split took
        ~7 us a call, twice per block in a decode)."""
        if len(self.split) == 1:
            return [y]
        return [y[..., a:b] for a, b in self._bounds]


def zero_skip_min_level(isa: str | None = None, precision: str = "fp32") -> float:
    """The fraction of zero inputs from which the zero-skipping layout (colrow) beats the rowwise
    one in a decode, where every token streams the weights from memory, on this CPU and ``isa``
    (default: the engine's active ISA): the tuning table's ``zero_skip_min_level``
    (``eie.engine.tuning``; AVX-512 0.25 (a Xeon), AVX2 0.6, 0.4 elsewhere; never on a Zen 4
    with AVX-512).
    Below it a Linear keeps the rowwise layout even when its inputs are thresholded. Above 1
    (never) under ``precision="int8"`` where the int8 kernel runs: the zero-skipping layout has
    no int8 kernel, and the int8 rowwise kernel ran 1.7-2.0x faster than the fp32 rowwise one in
    a SmolLM2 decode (AMD Zen 4, AVX-512), more than the zero-skipping layout gained over the
    fp32 one at any level within +5% perplexity (1.25x at 30% on an AVX-512 Xeon; docs/llm.md)."""
    from eie.engine import kernels, tuning

    if precision == "int8" and kernels.int8_runs(isa):
        return 2.0
    return float(tuning.constants(isa or kernels.active_isa_name())["zero_skip_min_level"])


def zero_skipping_layout() -> str | None:
    """The engine's layout for per-row / per-group codebooks that skips zero inputs (column-
    major), or None where this build has none (then the rowwise layout reads every column)."""
    from eie.engine import layout

    for name in ("colrow",):
        if name in layout.LAYOUTS:
            return name
    return None


def _run_chunks(eng: Engine, x: F32, rows: int) -> F32:
    """The network call takes any batch (it runs chunks of ``MAX_BATCH`` tokens in C++)."""
    if x.shape[0] == 1:
        return eng.run(x[0])[None]
    return eng.run(x)


DENSE_DTYPES = ("float32", "float16")
"""How a Linear the kernels cannot take (a float weight the model keeps) runs: float32 on
torch's GEMV, or rounded once to float16 on the engine's float16 GEMV (half the bytes)."""


def half_bits(weight: F32, name: str) -> npt.NDArray[np.uint16]:
    """``weight`` rounded to float16 (nearest), as uint16 bits; refuses values past float16's
    range (they would become infinite)."""
    w = np.asarray(weight, np.float32)
    finite = np.isfinite(w)
    if np.any(np.abs(w[finite]) > 65504.0):
        raise ConfigError(f"layer {name!r} holds values beyond float16's range (|w| > 65504); "
                          "keep it in float32")
    return np.ascontiguousarray(w.astype(np.float16)).view(np.uint16)


def build_linear(name: str, q: QuantizedWeight | None, weight: F32, bias: F32 | None,
                 threads: int | None, precision: str = "fp32", dense_dtype: str = "float32"
                 ) -> EngineLinear:
    """The runtime layer of one Linear: ``q`` on the kernels when they take it, else ``weight``
    (the float32 values the model holds) as a dense fallback, in ``dense_dtype``
    (``DENSE_DTYPES``). ``precision="bf16"`` lets the kernels round batches of 2..16 inputs to
    bfloat16 (AMX tiles where the CPU has them; ``eie.engine.kernels``)."""
    rows, cols = weight.shape
    blocks = None if q is None else to_blocks(q)
    return EngineLinear(name, rows, cols, blocks, bias,
                        dense=weight if blocks is None else None, threads=threads,
                        precision=precision, dense_dtype=dense_dtype)


def build_fused(name: str, qs: Sequence[QuantizedWeight], biases: Sequence[F32 | None],
                threads: int | None, precision: str = "fp32") -> EngineLinear:
    m = fuse(qs)
    bias = None
    if any(b is not None for b in biases):
        bias = np.concatenate([np.zeros(q.shape[0], np.float32) if b is None else b
                               for q, b in zip(qs, biases, strict=True)])
    return EngineLinear(name, m.rows, m.cols, [Block(0, m.cols, m)], bias, threads=threads,
                        split=tuple(q.shape[0] for q in qs), precision=precision)
