"""``precision="int8"``: the opt-in W4A8 path (int8 inputs per 128-column chunk, int8 codebooks,
exact integer sums per chunk) on the rowwise layout's integer kernels (AVX-512 VNNI, AVX2). Where
this CPU runs one, the kernel is checked against ``reference.spmv_int8`` (the same rounding, float64 outer sums: only
fp32 rounding differs) and against the exact product within ``kernels.int8_error_bound``;
elsewhere (another ISA, an input that is not finite, a pruned layer) the call is the fp32 one,
bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from engine_cases import FLOAT_TOL, shared_dense

from eie import Layer, _core
from eie.engine import Engine, kernels, layout, reference
from eie.engine.spmv import chosen_layout, prepared, spmv
from eie.engine.torch import EIELinear
from eie.errors import ConfigError, EngineError
from eie.formats import EIEMatrix

INT8_ISAS = [isa for isa in ("avx2", "avx512")
             if isa in kernels.available_isas() and kernels.int8_runs(isa)]
"""The ISAs whose int8 kernel this CPU runs (AVX-512 needs VNNI)."""
INT8 = kernels.int8_runs()
"""The process ISA runs an int8 kernel (what Engine, EIELinear and spmv's defaults use)."""
needs_int8 = pytest.mark.skipif(not INT8, reason="the process ISA runs no int8 kernel")
each_int8_isa = pytest.mark.parametrize("isa", INT8_ISAS or [
    pytest.param("avx2", marks=pytest.mark.skip(reason="this CPU runs no int8 kernel"))])
REF_TOL = 1e-6
"""|kernel - spmv_int8| <= REF_TOL * s_w * sum_t s_t * sum_c |w8 q| per output: the integer
sums agree exactly, the fp32 scaling and the sums over chunks and lanes round differently."""


shared = shared_dense


def per_row(rng: np.random.Generator, rows: int, cols: int) -> EIEMatrix:
    codes = rng.integers(0, 16, (rows, cols))
    cb = (rng.standard_normal((rows, 16)) * rng.uniform(0.01, 10, (rows, 1))).astype(np.float32)
    return EIEMatrix.from_group_codes(codes, cb, 1, zero_code=False)


def per_group(rng: np.random.Generator, rows: int, cols: int) -> EIEMatrix:
    codes = rng.integers(0, 8, (rows, cols))
    cb = rng.standard_normal((-(-rows // 8), 8)).astype(np.float32)
    return EIEMatrix.from_group_codes(codes, cb, 8, zero_code=False)


def weights_and_codebooks(m: EIEMatrix) -> tuple[np.ndarray, np.ndarray]:
    codes = m.to_codes().astype(np.intp)
    if m.group_rows:
        cb = np.asarray(m.codebook, np.float64)[np.arange(m.rows) // m.group_rows]
        return np.take_along_axis(cb, codes, axis=1), cb
    cb = np.asarray(m.codebook, np.float64)
    return cb[codes], np.broadcast_to(cb, (m.rows, len(cb)))


def int8_scale_sum(m: EIEMatrix, x: np.ndarray) -> np.ndarray:
    """s_w * sum_t s_t * sum_c |w8 q| per row: the size of the kernel's fp32 terms."""
    w, cb = weights_and_codebooks(m)
    sw = reference.int8_scale(np.abs(cb).max(1))
    sw = np.where(sw > 0, sw, 1).astype(np.float64)
    pc = -(-m.cols // 128) * 128
    xp = np.zeros(pc, np.float32)
    xp[:m.cols] = x
    st = reference.int8_scale(np.abs(xp.reshape(-1, 128)).max(1)).astype(np.float64)
    xq = np.abs(reference.int8_round(xp.reshape(-1, 128), st[:, None].astype(np.float32)))
    w8 = np.abs(np.rint(w / sw[:, None]))
    return np.asarray(sw * ((w8 * (xq * st[:, None]).reshape(-1)[:m.cols]).sum(1)), np.float64)


@each_int8_isa
@pytest.mark.parametrize("make", [shared, per_row, per_group])
@pytest.mark.parametrize("rows, cols", [(1, 1), (3, 100), (16, 128), (33, 129), (37, 576),
                                        (100, 700), (257, 1536)])
@pytest.mark.parametrize("batch", [1, 2, 3, 5, 16])
@pytest.mark.parametrize("threads", [1, 2])
def test_int8_against_the_reference_and_the_exact_product(
        make: object, rows: int, cols: int, batch: int, threads: int, isa: str) -> None:
    rng = np.random.default_rng(rows * 7919 + cols * 31 + batch)
    m = make(rng, rows, cols)  # type: ignore[operator]
    x = rng.standard_normal((batch, cols)).astype(np.float32)
    x[:, : cols // 3] *= 100  # chunks of very different scales
    x[rng.random((batch, cols)) < 0.3] = 0.0
    if cols > 256:
        x[0, 128:256] = 0.0  # an all-zero chunk (scale 0)
    bias = rng.standard_normal(rows).astype(np.float32)
    lay = chosen_layout(m, x, "rowwise", precision="int8")
    assert lay.kind == "rowwise" and lay.uses_int8(isa, "int8")
    y = spmv(m, x, bias=bias, threads=threads, layout="rowwise", isa=isa, precision="int8")
    w, cb = weights_and_codebooks(m)
    for b in range(batch):
        ref = reference.spmv_int8(m, x[b], bias)
        tol = REF_TOL * int8_scale_sum(m, x[b]) + 1e-6 * np.abs(bias) + 1e-30
        assert np.all(np.abs(y[b] - ref) <= tol), np.max(np.abs(y[b] - ref) / tol)
        exact = w @ x[b].astype(np.float64) + bias
        bound = kernels.int8_error_bound(w, x[b], cb) + FLOAT_TOL * np.abs(bias)
        assert np.all(np.abs(y[b] - exact) <= bound), np.max(np.abs(y[b] - exact) / bound)
    # the rounding really happens: the int8 result is not the fp32 one
    if rows * cols >= 1000:
        assert not np.array_equal(y, spmv(m, x, bias=bias, threads=threads, layout="rowwise",
                                          isa=isa))


@each_int8_isa
def test_int8_results_do_not_depend_on_the_thread_count_or_the_batch(isa: str) -> None:
    rng = np.random.default_rng(3)
    for cols in (1000, 576, 1536):  # 576, 1536: the batch-1 kernel holding the input (AVX-512)
        m = per_row(rng, 300, cols)
        x = rng.standard_normal((7, cols)).astype(np.float32)
        one = spmv(m, x, threads=1, isa=isa, precision="int8")
        assert np.array_equal(one, spmv(m, x, threads=2, isa=isa, precision="int8"))
        for b in range(7):  # input b alone gives the same row: each input has its own scales
            np.testing.assert_array_equal(spmv(m, x[b], threads=1, isa=isa, precision="int8"),
                                          one[b])


@each_int8_isa
def test_int8_edge_values(isa: str) -> None:
    rng = np.random.default_rng(5)
    m = per_row(rng, 20, 300)
    # all-zero input: exact zeros (every chunk's scale is 0)
    assert np.array_equal(spmv(m, np.zeros(300, np.float32), isa=isa, precision="int8"),
                          np.zeros(20))
    # an all-zero codebook row gives 0 whatever the input
    codes = rng.integers(0, 16, (4, 300))
    cb = rng.standard_normal((4, 16)).astype(np.float32)
    cb[2] = 0.0
    z = EIEMatrix.from_group_codes(codes, cb, 1, zero_code=False)
    x = rng.standard_normal(300).astype(np.float32)
    y = spmv(z, x, isa=isa, precision="int8")
    assert y[2] == 0.0
    np.testing.assert_allclose(y, reference.spmv_int8(z, x), rtol=1e-5, atol=1e-6)
    # huge and tiny magnitudes stay finite and within the bound (scales from each chunk's max)
    for scale in (1e30, 1e-30, 1e-38):
        xs = (x * np.float32(scale)).astype(np.float32)
        ys = spmv(z, xs, isa=isa, precision="int8")
        ref = reference.spmv_int8(z, xs)
        assert np.all(np.isfinite(ys))
        np.testing.assert_allclose(ys, ref, rtol=1e-5, atol=float(np.abs(ref).max()) * 1e-5)


@each_int8_isa
def test_int8_falls_back_to_fp32_for_inputs_that_are_not_finite(isa: str) -> None:
    rng = np.random.default_rng(9)
    m = per_row(rng, 40, 260)
    x = rng.standard_normal((2, 260)).astype(np.float32)
    for bad in (np.inf, -np.inf, np.nan):
        xb = x.copy()
        xb[1, 200] = bad
        np.testing.assert_array_equal(spmv(m, xb, isa=isa, precision="int8"),
                                      spmv(m, xb, isa=isa))
    with pytest.raises(EngineError, match="finite"):
        reference.spmv_int8(m, np.full(260, np.inf, np.float32))


@each_int8_isa
def test_int8_float16_and_bfloat16_inputs_round_from_their_float32_values(isa: str) -> None:
    rng = np.random.default_rng(11)
    m = per_row(rng, 50, 400)
    x = rng.standard_normal(400).astype(np.float16)
    np.testing.assert_array_equal(spmv(m, x, isa=isa, precision="int8"),
                                  spmv(m, x.astype(np.float32), isa=isa, precision="int8"))
    bits = (x.astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
    xb = (bits.astype(np.uint32) << 16).view(np.float32)
    np.testing.assert_array_equal(
        spmv(m, bits, input_dtype="bfloat16", isa=isa, precision="int8"),
        spmv(m, xb, isa=isa, precision="int8"))


def test_int8_keeps_pruned_layers_and_other_isas_on_fp32() -> None:
    rng = np.random.default_rng(13)
    dense = shared(rng, 64, 300)
    x = rng.standard_normal(300).astype(np.float32)
    # the scalar ISA: the fp32 kernels, bit for bit
    np.testing.assert_array_equal(spmv(dense, x, isa="scalar", precision="int8"),
                                  spmv(dense, x, isa="scalar"))
    assert not kernels.int8_runs("scalar")
    # sparse inputs (below layout.INT8_MIN_ACT nonzero) keep the dense layout, which skips
    # their zero columns; an Engine keeps it for pruned layers (below INT8_MIN_DENSITY)
    xs = np.where(rng.random(300) < layout.INT8_MIN_ACT - 0.1, x, 0).astype(np.float32)
    assert chosen_layout(dense, xs, precision="int8") is chosen_layout(dense, xs)
    np.testing.assert_array_equal(spmv(dense, xs, precision="int8"), spmv(dense, xs))
    codes = np.where(rng.random((64, 300)) < 0.2, rng.integers(1, 16, (64, 300)), 0)
    pruned = EIEMatrix.from_codes(codes, dense.codebook, num_pes=4)
    if INT8:
        assert Engine(Layer("p", pruned), precision="int8").layers[0].kind != "rowwise"
        assert chosen_layout(pruned, x, precision="int8").kind == "rowwise"  # dense inputs
    if not INT8:  # no int8 kernel on the process ISA: every layer runs fp32
        np.testing.assert_array_equal(spmv(dense, x, precision="int8"), spmv(dense, x))
        assert not prepared(dense, "rowwise").uses_int8(kernels.active_isa_name(), "int8")


@needs_int8
def test_engine_and_eielinear_take_int8() -> None:
    rng = np.random.default_rng(17)
    m = shared(rng, 96, 640)
    bias = rng.standard_normal(96).astype(np.float32)
    layer = Layer("fc", m, bias)
    x = rng.standard_normal((3, 640)).astype(np.float32)
    want = np.stack([reference.spmv_int8(m, x[b], bias) for b in range(3)])
    eng = Engine(layer, precision="int8")
    assert eng.layers[0].kind == "rowwise"
    np.testing.assert_allclose(eng(x), want, rtol=1e-5, atol=1e-5)
    assert Engine(layer).layers[0].kind == "dense"
    lin = EIELinear(layer, precision="int8")
    got = lin(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(lin(torch.from_numpy(x[0])).numpy(), got[0])
    with pytest.raises(ConfigError, match="precision"):
        EIELinear(layer, precision="bf16")


def test_int8_reference_and_bound_are_sound() -> None:
    """The reference's error against the exact product stays inside the named bound, and the
    bound is not vacuous (the error reaches a sizeable part of it somewhere)."""
    rng = np.random.default_rng(19)
    m = per_row(rng, 64, 1000)
    x = rng.standard_normal(1000).astype(np.float32)
    w, cb = weights_and_codebooks(m)
    err = np.abs(reference.spmv_int8(m, x) - w @ x.astype(np.float64))
    bound = kernels.int8_error_bound(w, x, cb)
    assert np.all(err <= bound)
    assert err.max() > 0.01 * bound.max()
    assert 0 < layout.INT8_MIN_ACT <= 1 and 0 < layout.INT8_MIN_DENSITY <= 1


def test_precision_names_are_checked() -> None:
    m = shared(np.random.default_rng(0), 4, 8)
    with pytest.raises(ConfigError, match="precision"):
        spmv(m, np.ones(8, np.float32), precision="int4")
    with pytest.raises(ValueError, match="int8"):
        prepared(m, "rowwise").run_f32(np.ones((1, 8), np.float32), np.empty((1, 4), np.float32),
                                       None, False, 1, "", "fp16")
    assert isinstance(_core.vnni_ready(), bool)


def test_int8_tables_are_counted() -> None:
    """The layout's byte count includes the int8 tables, and a runtime Linear's streamed bytes
    follow the precision's kernel: 16 table bytes and a 4-byte scale per row codebook instead
    of 16 fp32 entries, where the int8 kernel runs."""
    from eie.llm.engine_linear import Block, EngineLinear

    m = per_row(np.random.default_rng(23), 40, 300)
    lay = prepared(m, "rowwise")
    assert lay.nbytes >= 40 * 3 * 64 + 40 * (16 * 4 + 16 + 4)
    lins = {p: EngineLinear("fc", 40, 300, [Block(0, 300, m)], precision=p)
            for p in ("fp32", "int8")}
    saved = lins["fp32"].stream_bytes - lins["int8"].stream_bytes
    assert saved == (40 * (64 - 20) if kernels.int8_runs() else 0)
