"""Quantizers and their exact bit accounting."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from eie.errors import ConfigError, FormatError
from eie.llm.qweight import IQ4NL_TABLE, NF4_TABLE, nm_mask_bits
from eie.llm.schemes import (
    quantize_codebook,
    quantize_float,
    quantize_int,
    quantize_iq4nl,
    quantize_nf4,
)


def gaussian(rows: int = 96, cols: int = 576, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal((rows, cols)) * 0.05).astype(np.float32)


def rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sum((a - b) ** 2) / np.sum(b**2))


def test_bits_per_weight_count_every_table() -> None:
    w = gaussian()  # 96 x 576: 576 = 4.5 groups of 128
    assert quantize_codebook(w, 4).bits_per_weight == pytest.approx(4 + 16 * 16 / 576)
    assert quantize_codebook(w, 3).bits_per_weight == pytest.approx(3 + 8 * 16 / 576)
    assert quantize_codebook(w, 4, group_rows=8).bits_per_weight == pytest.approx(
        4 + 16 * 16 / (8 * 576))
    assert quantize_codebook(w, 4, group_cols=64).bits_per_weight == pytest.approx(4 + 4)
    assert quantize_codebook(w, 4, group_rows=96).bits_per_weight == pytest.approx(
        4 + 256 / w.size)
    assert quantize_int(w, 4, 128).bits_per_weight == pytest.approx(4 + 5 * 32 / 576)  # 5 groups
    assert quantize_int(w, 4, 32).bits_per_weight == pytest.approx(5.0)
    assert quantize_int(w, 3, 128).bits_per_weight == pytest.approx(3 + 5 * 32 / 576)
    assert quantize_nf4(w, 64).bits_per_weight == pytest.approx(4.25)
    assert quantize_iq4nl(w, 32).bits_per_weight == pytest.approx(4.5)
    assert quantize_float(w, "fp16").bits_per_weight == 16
    mask = np.ones(w.shape, bool)
    mask[:, ::2] = False
    pruned = quantize_codebook(w, 4, mask=mask, prune="unstructured")
    assert pruned.bits_per_weight == pytest.approx(0.5 * 4 + 16 * 16 / 576 + 1)
    assert nm_mask_bits(96, 576, 2, 4) == 96 * 144 * 3  # C(4,2) = 6 patterns -> 3 bits


def test_learned_codebook_beats_fixed_tables_at_equal_bits() -> None:
    w = gaussian()
    cb = rel(quantize_codebook(w, 4).dequantize(), w)
    assert cb < rel(quantize_int(w, 4, 128).dequantize(), w)
    assert cb < rel(quantize_nf4(w, 576).dequantize(), w)  # one scale per row vs one codebook
    # Per-row 16-level optimum of a Gaussian: ~0.0095 relative MSE (Lloyd-Max).
    assert 0.007 < cb < 0.012


def test_weighting_lowers_the_weighted_error() -> None:
    w = gaussian()
    imp = np.random.default_rng(1).gamma(0.5, 1.0, w.shape[1]).astype(np.float32)

    def werr(q: np.ndarray) -> float:
        return float(((q - w) ** 2 * imp).sum())

    assert werr(quantize_codebook(w, 4, importance=imp).dequantize()) < werr(
        quantize_codebook(w, 4).dequantize())


def test_tables_and_codes_are_what_dequantize_uses() -> None:
    w = gaussian(8, 64)
    nf = quantize_nf4(w, 32)
    absmax = np.abs(w.reshape(8, 2, 32)).max(axis=2).astype(np.float16).astype(np.float32)
    expect = absmax.reshape(16, 1) * NF4_TABLE
    assert np.array_equal(nf.tables, expect)
    iq = quantize_iq4nl(w, 32)
    assert np.allclose(iq.tables / iq.params["scale"].astype(np.float32)[:, None], IQ4NL_TABLE)
    # Every code is the nearest table entry of its group.
    d = iq.dequantize().reshape(16, 32)
    t = iq.tables
    best = np.abs(w.reshape(16, 32)[:, :, None] - t[:, None, :]).min(axis=2)
    assert np.allclose(np.abs(d - w.reshape(16, 32)), best, atol=1e-7)


def test_int4_g32_reproduces_q4_1_exactly(smollm2_gguf: Path) -> None:
    # The GGUF's Q4_1 tensors are zero + scale * q per 32 input weights with fp16 scale and
    # zero: re-quantizing their dequantized values with int4 g32 gives them back bit for bit.
    import gguf

    reader = gguf.GGUFReader(str(smollm2_gguf))
    t = next(t for t in reader.tensors if t.tensor_type == gguf.GGMLQuantizationType.Q4_1
             and t.name.endswith("attn_q.weight"))
    w = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)
    q = quantize_int(w, 4, 32)
    assert np.array_equal(q.dequantize(), w)


def test_bf16_and_fp16() -> None:
    w = gaussian(4, 16)
    b = quantize_float(w, "bf16").dequantize()
    assert np.array_equal(b.view(np.uint32) & 0xFFFF, np.zeros(w.shape, np.uint32))
    assert np.max(np.abs(b - w) / np.abs(w)) <= 2**-8
    assert np.array_equal(quantize_float(w, "fp16").dequantize(),
                          w.astype(np.float16).astype(np.float32))


@pytest.mark.parametrize("fn", [
    lambda: quantize_codebook(np.zeros((0, 4), np.float32), 4),
    lambda: quantize_codebook(np.full((2, 4), np.nan, np.float32), 4),
    lambda: quantize_codebook(np.ones((2, 4), np.float32), 9),
    lambda: quantize_int(np.ones((2, 4), np.float32), 1, 32),
    lambda: quantize_float(np.ones((2, 4), np.float32), "fp8"),
])
def test_bad_weights_raise(fn) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises((ConfigError, FormatError)):
        fn()
