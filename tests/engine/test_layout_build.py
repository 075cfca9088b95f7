"""CPU layouts built from the EIE entries equal those built from the code matrix; the builder's
input validation; the threads bound; what a cached call does per call."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from engine_cases import CODEBOOKS, random_input, random_matrix

from eie.engine import Engine, available_isas, kernels, layout, spmv
from eie.engine.spmv import _cache, prepared
from eie.engine.torch import EIELinear
from eie.errors import ConfigError, EngineError, FormatError
from eie.formats import EIEMatrix
from eie.formats.model import Layer


@pytest.mark.parametrize("bits", ["4bit", "8bit"])
@pytest.mark.parametrize("kind", ["sparse", "dense"])
@pytest.mark.parametrize("rows, cols, density, num_pes", [
    (300, 784, 0.08, 64),    # row view
    (4500, 40, 0.2, 7),      # two row blocks
    (64, 3, 1.0, 1),
    (0, 5, 0.5, 4),
    (33, 0, 0.5, 4),
])
def test_layout_from_entries_equals_layout_from_codes(bits: str, kind: str, rows: int, cols: int,
                                                      density: float, num_pes: int) -> None:
    rng = np.random.default_rng(rows * 7 + cols)
    cb = CODEBOOKS[bits]
    m = random_matrix(rng, rows, cols, density, num_pes=num_pes, index_bits=2, codebook=cb)
    a = layout.from_matrix(m, kind, threads=2)
    b = layout.build(m.to_codes(), cb, kind, threads=2)
    assert (a.kind, a.nnz, a.nbytes, a.row_blocks, a.has_row_view, a.code_bits) == \
        (b.kind, b.nnz, b.nbytes, b.row_blocks, b.has_row_view, b.code_bits)
    assert a.arrays() == b.arrays()
    for batch in (1, 5):
        x = random_input(rng, (batch, cols), 0.6)
        for isa in available_isas():
            ya, yb = np.empty((batch, rows), np.float32), np.empty((batch, rows), np.float32)
            a.run_f32(x, ya, None, False, 1, isa)
            b.run_f32(x, yb, None, False, 1, isa)
            np.testing.assert_array_equal(ya, yb)  # same entry order: same sums, bit for bit


def _dense_reference(codes: np.ndarray, row0: list[int], wide: bool) -> bytes:
    """The dense layout's code bytes (csrc/engine/layout.h "DENSE"), written out in numpy."""
    out = []
    for r0, r1 in itertools.pairwise(row0):
        rp = (r1 - r0 + 31) // 32 * 32
        blk = np.zeros((codes.shape[1], rp), np.uint8)  # (cols, padded rows)
        blk[:, :r1 - r0] = codes[r0:r1].T
        if not wide:  # byte i of group g: row 32g + i low nibble, 32g + 16 + i high
            g = blk.reshape(codes.shape[1], rp // 32, 2, 16)
            blk = (g[:, :, 0] | (g[:, :, 1] << 4)).reshape(codes.shape[1], rp // 2)
        out.append(blk.tobytes())
    return b"".join(out)


@pytest.mark.parametrize("bits", ["4bit", "8bit"])
@pytest.mark.parametrize("rows, cols, density, num_pes, index_bits, threads", [
    (4096, 70, 1.0, 64, 4, 1),     # every local row stored: the no-index path
    (8200, 33, 0.9, 64, 4, 2),     # three row blocks, a partial last one
    (4100, 50, 0.5, 3, 1, 2),      # fillers (1-bit indices), PEs not dividing the rows
    (2048, 100, 1.0, 7, 4, 2),     # split for 2 threads: two blocks of 1024 rows
    (61, 200, 0.3, 64, 2, 1),      # fewer rows than PEs; wide tiles
    (17, 5, 0.0, 4, 4, 1),         # no weight at all
    (1, 1, 1.0, 1, 8, 1),
    (40000, 2, 0.02, 16, 3, 1),    # taller than a tile: one column per tile
])
def test_dense_layout_from_entries_is_the_documented_bytes(bits: str, rows: int, cols: int,
                                                          density: float, num_pes: int,
                                                          index_bits: int, threads: int) -> None:
    rng = np.random.default_rng(rows + 13 * cols)
    cb = CODEBOOKS[bits]
    m = random_matrix(rng, rows, cols, density, num_pes=num_pes, index_bits=index_bits,
                      codebook=cb)
    codes = m.to_codes()
    a = layout.from_matrix(m, "dense", threads=threads)
    b = layout.build(codes, cb, "dense", threads=threads)
    arrays = a.arrays()
    assert arrays == b.arrays()
    assert a.nnz == np.count_nonzero(codes)
    assert arrays["codes"] == _dense_reference(codes, a.row_blocks, bits == "8bit")


def test_build_refuses_codes_a_uint8_cast_would_wrap() -> None:
    cb = np.linspace(0, 1, 16).astype(np.float32)
    for bad in (300, -1, 16):
        codes = np.array([[1, bad]], np.int64)
        with pytest.raises(FormatError, match=r"codes should be in \[0, 16\)"):
            layout.build(codes, cb)
    with pytest.raises(FormatError, match="integers"):
        layout.build(np.array([[1.5]]), cb)
    with pytest.raises(FormatError, match="outside the codebook"):
        layout.build(np.array([[17]], np.uint8), cb)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_build_refuses_non_finite_codebooks(bad: float) -> None:
    cb = np.linspace(0, 1, 16).astype(np.float32)
    cb[3] = bad
    with pytest.raises(FormatError, match="codebook contains NaN or infinity"):
        layout.build(np.array([[1, 3]], np.uint8), cb)
    from eie import _core
    with pytest.raises(ValueError, match=r"codebook\[3\] is NaN or infinite"):
        _core.build_cpu_layout(np.array([[1, 3]], np.uint8), cb, "sparse", 1)


def test_threads_have_an_upper_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(1)
    m = random_matrix(rng, 8, 8, 0.5)
    x = random_input(rng, (8,), 1.0)
    for bad in (kernels.MAX_THREADS + 1, 1000, 2**31):
        with pytest.raises(ConfigError, match=r"threads should be an integer in 1\.\.256"):
            spmv(m, x, threads=bad)
        with pytest.raises(ConfigError, match="1..256"):
            Engine(m, threads=bad)
        with pytest.raises(ConfigError, match="1..256"):
            layout.build(m.to_codes(), m.codebook, threads=bad)
    spmv(m, x, threads=kernels.MAX_THREADS)  # the bound itself is allowed
    monkeypatch.setenv("EIE_NUM_THREADS", "1000")
    with pytest.raises(ConfigError, match=r"EIE_NUM_THREADS should be an integer in 1\.\.256"):
        spmv(m, x)


def test_a_cached_spmv_call_looks_the_layout_up_by_name() -> None:
    rng = np.random.default_rng(2)
    m = random_matrix(rng, 40, 30, 0.5)
    x = random_input(rng, (30,), 1.0)
    spmv(m, x)
    lay = _cache[m]["auto"]
    assert prepared(m) is lay and _cache[m][lay.kind] is lay
    assert prepared(m, "sparse" if lay.kind == "dense" else "dense") is not lay


@pytest.mark.parametrize("shape", [(64,), (3, 64), (2, 3, 64), (40, 64)])
def test_eie_linear_float32_fast_path(shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(4)
    m = random_matrix(rng, 48, 64, 0.3)
    layer = Layer("fc", m, bias=rng.standard_normal(48).astype(np.float32), activation="relu")
    mod = EIELinear(layer)
    x = torch.from_numpy(random_input(rng, shape, 0.7))
    y = mod(x)
    assert y.shape == (*shape[:-1], 48) and y.dtype == torch.float32
    want = spmv(m, x.numpy().reshape(-1, 64), layer.bias, "relu").reshape(*shape[:-1], 48)
    np.testing.assert_array_equal(y.numpy(), want)
    # the general path (a tensor that needs grad, a strided view) gives the same values
    xg = x.clone().requires_grad_(True)
    np.testing.assert_array_equal(mod(xg).numpy(), want)
    if len(shape) == 2:
        wide = torch.from_numpy(np.ascontiguousarray(
            np.concatenate([x.numpy(), x.numpy()], axis=1)))[:, ::2]
        assert not wide.is_contiguous()
        want_wide = spmv(m, np.ascontiguousarray(wide.numpy()), layer.bias, "relu")
        np.testing.assert_array_equal(mod(wide).numpy(), want_wide)


def test_eie_linear_call_keeps_hooks_and_refused_inputs() -> None:
    """The call that skips nn.Module.__call__ still runs every hook, and inputs the kernel
    binding refuses (strided, requiring grad, another dtype, a keyword argument) give the same
    values through forward."""
    rng = np.random.default_rng(6)
    m = random_matrix(rng, 24, 32, 0.4)
    layer = Layer("fc", m, bias=rng.standard_normal(24).astype(np.float32))
    mod = EIELinear(layer, threads=1)
    x = torch.from_numpy(random_input(rng, (3, 32), 0.8))
    want = spmv(m, x.numpy(), layer.bias)
    np.testing.assert_array_equal(mod(x).numpy(), want)
    np.testing.assert_array_equal(mod.forward(x).numpy(), want)
    np.testing.assert_array_equal(mod(x=x).numpy(), want)
    np.testing.assert_array_equal(mod(x.clone().requires_grad_(True)).detach().numpy(), want)
    np.testing.assert_array_equal(mod(x.double()).numpy(), want)
    wide = torch.from_numpy(np.ascontiguousarray(np.repeat(x.numpy(), 2, axis=1)))[:, ::2]
    np.testing.assert_array_equal(mod(wide).numpy(), want)
    with pytest.raises(EngineError, match=r"expects \(\.\.\., 32\) inputs"):
        mod(torch.zeros(3, 31))
    seen: list[str] = []
    handles = [
        mod.register_forward_pre_hook(lambda _m, a: seen.append("pre") or (a[0] * 2,)),
        mod.register_forward_hook(lambda _m, _a, y: seen.append("post") or y + 1)]
    np.testing.assert_allclose(mod(x).numpy(), spmv(m, 2 * x.numpy(), layer.bias) + 1,
                               rtol=1e-6, atol=1e-6)
    assert seen == ["pre", "post"]
    for h in handles:
        h.remove()
    h = torch.nn.modules.module.register_module_forward_hook(
        lambda _m, _a, y: seen.append("global") or -y)
    try:
        np.testing.assert_array_equal(mod(x).numpy(), -want)
    finally:
        h.remove()
    assert seen == ["pre", "post", "global"]
    np.testing.assert_array_equal(mod(x).numpy(), want)


def test_relaid_matrix_runs_the_same() -> None:
    rng = np.random.default_rng(5)
    m = random_matrix(rng, 200, 90, 0.2, num_pes=64)
    x = random_input(rng, (90,), 0.5)
    r = m.with_num_pes(3, 2)
    assert isinstance(r, EIEMatrix) and r.num_pes == 3
    np.testing.assert_array_equal(spmv(r, x, threads=1), spmv(m, x, threads=1))
