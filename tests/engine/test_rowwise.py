"""The rowwise layout (per-row / per-group codebooks, zero_code=False) on every ISA against the
reference engine, through spmv, Engine, EIELinear and a saved file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from engine_cases import BACKENDS, assert_close, exact, random_input, run_backend

import eie
from eie.engine import Engine, available_isas, layout, spmv
from eie.engine.torch import EIELinear
from eie.errors import ConfigError, EngineError, FormatError
from eie.formats import EIEMatrix


def grouped(rng: np.random.Generator, rows: int, cols: int, group_rows: int, zero_code: bool,
            k: int = 16, half: bool = False) -> EIEMatrix:
    """``half``: codebook values that are float16 values (as model files store them; the AVX2
    kernel then skips the low byte plane)."""
    codes = rng.integers(0, k, (rows, cols))
    cb = rng.standard_normal((-(-rows // group_rows), k)).astype(np.float32)
    if half:
        cb = cb.astype(np.float16).astype(np.float32)
    if zero_code:
        codes[rng.random((rows, cols)) < 0.5] = 0
        cb[:, 0] = 0.0
    return EIEMatrix.from_group_codes(codes, cb, group_rows, num_pes=5, zero_code=zero_code)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("rows, cols", [(1, 1), (17, 127), (33, 128), (40, 300), (130, 1000)])
@pytest.mark.parametrize("group_rows, zero_code, half", [(1, False, False), (3, True, False),
                                                        (64, False, False), (1, False, True),
                                                        (3, True, True)])
@pytest.mark.parametrize("batch", [None, 2, 8, 11, 16])
def test_rowwise_matches_exact(backend: str, rows: int, cols: int, group_rows: int,
                               zero_code: bool, half: bool, batch: int | None) -> None:
    rng = np.random.default_rng(rows * 31 + cols + group_rows)
    m = grouped(rng, rows, cols, group_rows, zero_code, half=half)
    x = random_input(rng, (cols,) if batch is None else (batch, cols), 0.8)
    bias = rng.standard_normal(rows).astype(np.float32)
    y = run_backend(backend, m, x, bias, "relu")
    assert_close(y, *exact(m, x, bias, "relu"))


def test_rowwise_threads_give_the_same_bits() -> None:
    rng = np.random.default_rng(1)
    m = grouped(rng, 333, 700, 1, False)
    x = random_input(rng, (5, 700), 1.0)
    for isa in available_isas():
        one = spmv(m, x, threads=1, isa=isa)
        np.testing.assert_array_equal(spmv(m, x, threads=2, isa=isa), one)
        np.testing.assert_array_equal(spmv(m, x, threads=3, isa=isa), one)


def test_shared_codebook_rowwise_equals_dense() -> None:
    rng = np.random.default_rng(2)
    codes = rng.integers(0, 16, (70, 260))
    cb = np.linspace(-1, 1, 16).astype(np.float32)
    cb[0] = 0.0
    m = EIEMatrix.from_codes(codes, cb, num_pes=4)
    x = random_input(rng, (3, 260), 1.0)
    lay = layout.from_matrix(m, "rowwise")
    assert lay.kind == "rowwise" and lay.group_rows == 0
    assert_close(spmv(m, x, layout="rowwise"), *exact(m, x, None, None))


def test_rowwise_layout_rules() -> None:
    rng = np.random.default_rng(3)
    m = grouped(rng, 8, 8, 2, False)
    assert layout.from_matrix(m).kind == "rowwise"
    with pytest.raises(ConfigError, match="rowwise layout only"):
        layout.from_matrix(m, "dense")
    wide = EIEMatrix.from_group_codes(rng.integers(0, 32, (4, 4)),
                                      rng.standard_normal((4, 32)), 1, zero_code=False)
    assert not layout.supports(wide)
    with pytest.raises(EngineError, match="16 for group codebooks"):
        spmv(wide, np.ones(4, np.float32))
    assert Engine(wide).layers[0].kind == "reference"  # the reference engine runs it
    np.testing.assert_allclose(Engine(wide)(np.ones(4, np.float32)),
                               wide.to_dense().sum(axis=1), rtol=1e-5)
    from eie import _core
    with pytest.raises(ValueError, match="need 4 codebooks"):
        _core.build_rowwise_layout(np.zeros((8, 3), np.uint8), np.zeros((3, 16), np.float32), 2)
    with pytest.raises(FormatError, match="integers"):
        layout.build(np.zeros((2, 2)), np.zeros(16, np.float32))


def test_engine_file_and_torch_module(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    m1 = grouped(rng, 48, 64, 1, False)
    m2 = grouped(rng, 10, 48, 1, True)
    model = eie.Model((eie.Layer("a", m1, activation="relu"), eie.Layer("b", m2)))
    back = eie.load(eie.save(tmp_path / "g.eie", model))
    eng = Engine(back)
    assert [el.kind for el in eng.layers] == ["rowwise", "rowwise"]
    x = random_input(rng, (64,), 1.0)
    h = np.maximum(eie.engine.reference.spmv(m1, x), 0)
    np.testing.assert_allclose(eng(x), eie.engine.reference.spmv(m2, h), rtol=1e-4, atol=1e-4)
    mod = EIELinear(model.layers[0])
    xt = torch.from_numpy(random_input(rng, (2, 3, 64), 1.0))
    np.testing.assert_array_equal(mod(xt).numpy(),
                                  spmv(m1, xt.numpy().reshape(-1, 64),
                                       activation="relu").reshape(2, 3, 48))


def _bf16(a: np.ndarray) -> np.ndarray:
    return (np.ascontiguousarray(a, np.float32).view(np.uint32) & 0xFFFF0000).view(np.float32)


@pytest.mark.parametrize("rows, cols", [(1, 1), (15, 31), (16, 32), (33, 129), (100, 1000)])
@pytest.mark.parametrize("batch", [2, 7, 16])
@pytest.mark.parametrize("threads", [1, 2])
def test_bf16_batches_on_bf16_codebooks(rows: int, cols: int, batch: int, threads: int) -> None:
    """With bfloat16 inputs and codebooks holding bfloat16 values, AMX tiles run the batch where
    the process may use them (``_core.amx_ready()``): exact products, fp32 sums."""
    from eie import _core

    rng = np.random.default_rng(rows + cols + batch)
    codes = rng.integers(0, 16, (rows, cols))
    cb = _bf16(rng.standard_normal((rows, 16)))
    m = EIEMatrix.from_group_codes(codes, cb, 1, zero_code=False)
    x = _bf16(rng.standard_normal((batch, cols)))
    bits = (x.view(np.uint32) >> 16).astype(np.uint16)
    bias = rng.standard_normal(rows).astype(np.float32)
    y = spmv(m, bits, bias, "relu", threads=threads, input_dtype="bfloat16")
    assert_close(y, *exact(m, x, bias, "relu"))
    if _core.cpu_features()["amx_bf16"]:
        assert _core.amx_ready()  # Linux grants the tile state to a process that asks
