"""``precision="bf16"``: the opt-in path that rounds fp32 (or fp16) inputs and the codebooks to
bfloat16 for the AMX kernel, or without AMX tiles the AVX512-BF16 dot-product kernel. Where the
process runs either (``BF16``), the result is checked against
numpy's product of the *rounded* operands (fp32-sum tolerance: the rounding really happens and
nothing else differs) and against the exact product within ``kernels.BF16_REL_TOL``; elsewhere
(and at batch 1, or on another ISA) the call is the fp32 one, bit for bit."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from engine_cases import FLOAT_TOL, assert_close, exact, shared_dense

from eie import _core
from eie.engine import kernels, spmv
from eie.engine.spmv import prepared
from eie.errors import ConfigError
from eie.formats import EIEMatrix

AMX = _core.amx_ready()
DOT = (not AMX and bool(_core.bf16_dot_ready())
       and kernels.available_isas()[-1] == "avx512")
BF16 = AMX or DOT
"""Whether a bf16 kernel runs at batches of 2..16 with the process's ISA (avx512, the best one
unless EIE_ISA lowers it: checked where used)."""


def round_bf16(a: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """float32 -> the nearest bfloat16 value (ties to even), as float32."""
    u = np.ascontiguousarray(a, np.float32).view(np.uint32).astype(np.uint64)
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16 << 16).astype(np.uint32)
    return r.view(np.float32)


shared = shared_dense


def per_row(rng: np.random.Generator, rows: int, cols: int) -> EIEMatrix:
    codes = rng.integers(0, 16, (rows, cols))
    cb = rng.standard_normal((rows, 16)).astype(np.float32)
    return EIEMatrix.from_group_codes(codes, cb, 1, zero_code=False)


def rounded_product(m: EIEMatrix, x: npt.NDArray[np.float32], bias: npt.NDArray[np.float32]
                    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(W_bf16 @ x_bf16 + bias, its error scale) in float64: what the AMX kernel computes."""
    if m.group_rows:
        cb = round_bf16(m.codebook)
        w = np.take_along_axis(cb, m.to_codes().astype(np.intp), axis=1).astype(np.float64)
    else:
        w = round_bf16(m.codebook)[m.to_codes()].astype(np.float64)
    xr = round_bf16(x).astype(np.float64)
    return xr @ w.T + bias, np.abs(xr) @ np.abs(w).T + np.abs(bias)


@pytest.mark.parametrize("make", [shared, per_row])
@pytest.mark.parametrize("rows, cols", [(1, 1), (15, 31), (16, 128), (33, 129), (100, 700)])
@pytest.mark.parametrize("batch", [2, 9, 16])
@pytest.mark.parametrize("threads", [1, 2])
def test_bf16_precision_against_the_rounded_and_the_exact_product(
        make: object, rows: int, cols: int, batch: int, threads: int) -> None:
    rng = np.random.default_rng(rows * 7 + cols + batch)
    m = make(rng, rows, cols)  # type: ignore[operator]
    x = rng.standard_normal((batch, cols)).astype(np.float32)
    bias = rng.standard_normal(rows).astype(np.float32)
    y = spmv(m, x, bias, threads=threads, precision="bf16")
    y_exact, scale = exact(m, x, bias, None)
    assert np.all(np.abs(y - y_exact) <= kernels.BF16_REL_TOL * scale + 1e-30)
    if BF16 and kernels.active_isa_name() == "avx512" and batch > 1:
        y_round, scale_round = rounded_product(m, x, bias)
        assert_close(y, y_round, scale_round)
        if cols >= 16:  # rounding 16+ random inputs changes some output beyond fp32 rounding
            assert np.any(np.abs(y - y_exact) > FLOAT_TOL * scale)
    else:
        assert_close(y, y_exact, scale)


def test_the_rounding_is_to_nearest_even() -> None:
    """Ties go to the even neighbour (1 + 2^-8 -> 1, 1 + 3 * 2^-8 -> 1 + 2^-6), other values to
    the nearer one; a 1x1 layer of weight 1 shows the rounded inputs."""
    if not BF16 or kernels.active_isa_name() != "avx512":
        pytest.skip("no bf16 kernel here (no AMX tiles, no AVX512-BF16): precision='bf16' runs "
                    "the fp32 kernels")
    m = EIEMatrix.from_group_codes([[1]], np.array([[0.0, 1.0] + [0.0] * 14], np.float32), 1,
                                   zero_code=False)
    vals = np.array([1 + 2**-8, 1 + 3 * 2**-8, 1 + 2**-8 + 2**-12, 1 - 2**-10, -(1 + 2**-8)],
                    np.float32)
    y = spmv(m, vals.reshape(-1, 1), precision="bf16")
    np.testing.assert_array_equal(y[:, 0], round_bf16(vals))
    np.testing.assert_array_equal(round_bf16(vals), np.array(
        [1.0, 1 + 2**-6, 1 + 2**-7, 1.0, -1.0], np.float32))


def test_float16_inputs_are_rounded_too() -> None:
    rng = np.random.default_rng(3)
    m = per_row(rng, 40, 300)
    x = rng.standard_normal((4, 300)).astype(np.float16)
    bias = np.zeros(40, np.float32)
    y = spmv(m, x, precision="bf16")
    y_exact, scale = exact(m, x.astype(np.float32), bias, None)
    assert np.all(np.abs(y - y_exact) <= kernels.BF16_REL_TOL * scale + 1e-30)
    if BF16 and kernels.active_isa_name() == "avx512":
        assert_close(y, *rounded_product(m, x.astype(np.float32), bias))


def test_fp32_where_the_amx_kernel_does_not_run() -> None:
    """Batch 1, an ISA below AVX-512 and the sparse layout run the fp32 kernels: same bits as
    precision='fp32'."""
    rng = np.random.default_rng(4)
    m = shared(rng, 64, 256)
    x = rng.standard_normal((6, 256)).astype(np.float32)
    np.testing.assert_array_equal(spmv(m, x[0], precision="bf16"), spmv(m, x[0]))
    np.testing.assert_array_equal(spmv(m, x, isa="scalar", precision="bf16"),
                                  spmv(m, x, isa="scalar"))
    if "avx2" in kernels.available_isas():
        np.testing.assert_array_equal(spmv(m, x, isa="avx2", precision="bf16"),
                                      spmv(m, x, isa="avx2"))
    np.testing.assert_array_equal(spmv(m, x, layout="sparse", precision="bf16"),
                                  spmv(m, x, layout="sparse"))


def test_auto_takes_the_rowwise_layout_for_amx_batches_only() -> None:
    rng = np.random.default_rng(5)
    m = shared(rng, 48, 256)
    x = rng.standard_normal((8, 256)).astype(np.float32)
    assert prepared(m).kind == "dense"
    spmv(m, x, precision="bf16")
    rw = prepared(m, "rowwise")
    assert rw.uses_amx(8, "float32", "", "bf16") == AMX
    assert rw.uses_bf16_dot(8, "float32", "avx512" if DOT else "", "bf16") == DOT
    assert not rw.uses_bf16_dot(8, "float32", "", "fp32")
    assert not rw.uses_bf16_dot(1, "float32", "", "bf16")
    assert not rw.uses_bf16_dot(8, "float32", "scalar", "bf16")
    assert not rw.uses_amx(8, "float32", "", "fp32")
    assert not rw.uses_amx(1, "float32", "", "bf16")
    assert not rw.uses_amx(8, "float32", "scalar", "bf16")
    assert not prepared(m).uses_amx(8, "float32", "", "bf16")  # the dense layout
    assert prepared(m).kind == "dense"  # "auto" without precision keeps the dense layout


def test_precision_is_checked() -> None:
    m = shared(np.random.default_rng(6), 8, 8)
    with pytest.raises(ConfigError, match="precision should be one of"):
        spmv(m, np.ones((2, 8), np.float32), precision="fp16")
    with pytest.raises(ConfigError, match="precision should be one of"):
        kernels.matmul(prepared(m), np.ones(8, np.float32), precision="tf32")
    with pytest.raises(ValueError, match="precision should be 'fp32', 'bf16' or 'int8'"):
        prepared(m).run_f32(np.ones((1, 8), np.float32), np.empty((1, 8), np.float32), None,
                            False, 1, "", "bf8")


@pytest.mark.parametrize("batch", [1, 5, 20])
def test_engine_passes_precision_to_every_layer(batch: int) -> None:
    """An Engine built with precision='bf16' runs its rowwise layers as spmv does with it (the
    whole model in one C++ call), and precision='fp32' stays the fp32 result."""
    from eie.engine import Engine
    from eie.formats.model import Layer, Model

    rng = np.random.default_rng(7)
    a, b = per_row(rng, 64, 200), per_row(rng, 30, 64)
    x = rng.standard_normal((batch, 200)).astype(np.float32)
    model = Model((Layer("a", a, activation="relu"), Layer("b", b)))
    h = spmv(a, x, activation="relu", precision="bf16")
    want = spmv(b, h, precision="bf16")
    got = Engine(model, precision="bf16")(x)
    np.testing.assert_array_equal(got, want)
    fp32 = Engine(model)(x)
    np.testing.assert_array_equal(fp32, spmv(b, spmv(a, x, activation="relu")))
    if BF16 and batch > 1 and kernels.active_isa_name() == "avx512":
        assert np.any(got != fp32)
    with pytest.raises(ConfigError, match="precision should be one of"):
        Engine(model, precision="int4")
