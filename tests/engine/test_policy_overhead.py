"""The per-call path: one binding call for the common float32 case, the same results as the
general path, nothing proportional to the matrix, the layout cache tied to the matrix."""

from __future__ import annotations

import gc

import numpy as np
import pytest
import torch

from eie.engine import kernels, spmv
from eie.engine.spmv import _by_id, prepared
from eie.engine.torch import EIELinear
from eie.errors import EngineError
from eie.formats import EIEMatrix
from eie.formats.model import Layer

CB = np.r_[0, np.linspace(-1, 1, 15)].astype(np.float32)


def matrix(rows: int = 90, cols: int = 70, seed: int = 0) -> EIEMatrix:
    rng = np.random.default_rng(seed)
    codes = np.where(rng.random((rows, cols)) < 0.3, rng.integers(1, 16, (rows, cols)), 0)
    return EIEMatrix.from_codes(codes.astype(np.uint8), CB, num_pes=4)


def exact(m: EIEMatrix, x: np.ndarray, bias: np.ndarray | None, relu: bool) -> np.ndarray:
    y = x.astype(np.float64) @ m.to_dense().astype(np.float64).T
    if bias is not None:
        y = y + bias
    return np.maximum(y, 0) if relu else y


@pytest.mark.parametrize("shape", [(70,), (1, 70), (5, 70), (16, 70), (17, 70), (40, 70)])
@pytest.mark.parametrize("with_bias", [False, True])
@pytest.mark.parametrize("activation", [None, "relu"])
def test_the_one_call_path_matches_the_general_one(shape: tuple[int, ...], with_bias: bool,
                                                   activation: str | None) -> None:
    m = matrix()
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape).astype(np.float32)
    bias = rng.standard_normal(90).astype(np.float32) if with_bias else None
    y = spmv(m, x, bias=bias, activation=activation, threads=1)
    assert y.dtype == np.float32 and y.shape == (*shape[:-1], 90)
    general = spmv(m, x.astype(np.float64), bias=None if bias is None else list(bias),
                   activation=activation, threads=1)  # not float32: the general path
    np.testing.assert_array_equal(y, general)
    np.testing.assert_allclose(y, exact(m, x, bias, activation == "relu"), rtol=1e-5,
                               atol=1e-5)


def test_what_the_core_refuses_goes_the_general_way() -> None:
    m = matrix()
    x = np.arange(140, dtype=np.float32).reshape(2, 70) / 100
    strided = np.asfortranarray(x)  # not C-contiguous: the general path copies it
    np.testing.assert_array_equal(spmv(m, strided, threads=1), spmv(m, x, threads=1))
    with pytest.raises(EngineError, match=r"x should have shape \(70,\) or \(batch, 70\)"):
        spmv(m, np.ones(69, np.float32))
    with pytest.raises(EngineError, match="bias should have shape"):
        spmv(m, x, bias=np.ones(3, np.float32))
    with pytest.raises(EngineError, match="activation"):
        spmv(m, x, activation="gelu")


def test_a_cached_call_reads_nothing_of_the_matrix(monkeypatch: pytest.MonkeyPatch) -> None:
    m = matrix()
    x = np.ones(70, np.float32)
    want = spmv(m, x)

    def refuse(self: EIEMatrix) -> float:
        raise AssertionError("a call after the first read the matrix")

    monkeypatch.setattr(EIEMatrix, "density", property(refuse))
    monkeypatch.setattr(EIEMatrix, "to_codes", refuse)
    np.testing.assert_array_equal(spmv(m, x), want)


def test_the_cache_goes_with_the_matrix_and_ids_are_not_confused() -> None:
    before = len(_by_id)
    shapes = []
    for seed in range(8):  # ids of collected matrices get reused
        m = matrix(10 + seed, 30, seed)
        assert spmv(m, np.ones(30, np.float32)).shape == (10 + seed,)
        shapes.append(prepared(m).rows)
        del m
        gc.collect()
    assert shapes == [10 + s for s in range(8)]
    assert len(_by_id) <= before + 1


@pytest.mark.parametrize("shape", [(70,), (3, 70), (2, 3, 70), (20, 70)])
def test_eielinear_one_call(shape: tuple[int, ...]) -> None:
    m = matrix()
    bias = np.linspace(-1, 1, 90).astype(np.float32)
    lin = EIELinear(Layer("l", m, bias=bias, activation="relu"), threads=1)
    x = torch.randn(shape)
    with torch.inference_mode():
        y = lin(x)
    assert y.shape == (*shape[:-1], 90) and y.dtype == torch.float32
    want = exact(m, x.numpy().reshape(-1, 70), bias, True).reshape(*shape[:-1], 90)
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-5, atol=1e-5)
    assert kernels.check_threads(3) == 3 and kernels.check_threads(np.int64(2)) == 2
