"""What one engine call may allocate is bounded before anything is allocated: a batch through
a layer of many rows, a convolution's padding and a pooling window from a file's attributes give
an EngineError (each of these raised an untyped MemoryError or ran for seconds before)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import eie
from eie.engine import kernels
from eie.engine.engine import Engine
from eie.errors import EngineError
from eie.formats import EIEMatrix
from eie.formats._validate import MAX_ACTIVATIONS, MAX_POOL_WINDOW, check_activations
from eie.formats.model import Layer, Model


def _empty(rows: int, cols: int, pes: int = 4) -> EIEMatrix:
    """A rows x cols layer with no entries: a file of about a kilobyte."""
    return EIEMatrix(np.zeros(0, np.uint8), np.zeros(0, np.uint8), np.zeros(pes + 1, np.int64),
                     np.zeros((pes, cols + 1), np.int64), np.array([0, 1.0], np.float32),
                     (rows, cols), pes, 4, 1)


def _from_file(tmp_path: Path, layer: Layer) -> Model:
    p = eie.save(tmp_path / "m.eie", Model((layer,)))
    assert p.stat().st_size < 4096
    return eie.load(p)


def test_the_bound_itself() -> None:
    check_activations((1 << 15, 1 << 15), "x")  # exactly MAX_ACTIVATIONS: accepted
    with pytest.raises(EngineError, match="32768 x 32769 = 1073774592 values"):
        check_activations((1 << 15, (1 << 15) + 1), "x")
    assert MAX_ACTIVATIONS == 1 << 30


def test_a_batch_through_a_layer_of_many_rows(tmp_path: Path) -> None:
    """2**24 rows (within MAX_DIM) x a batch of 65,536 one-value inputs: 4 TiB of outputs asked
    for by a 1 KB file and a 256 KB input. Refused at once, on both engine paths."""
    model = _from_file(tmp_path, Layer("wide", _empty(1 << 24, 1)))
    engine = Engine(model, threads=1)
    x = np.ones((1 << 16, 1), np.float32)
    t0 = time.monotonic()
    with pytest.raises(EngineError, match="the model's output would hold 65536 x 16777216"):
        engine(x)
    cpu = engine.layers[0].cpu
    assert cpu is not None
    with pytest.raises(EngineError, match="the output of a 16777216-row layer"):
        kernels.matmul(cpu, x)
    assert time.monotonic() - t0 < 5
    assert engine(np.ones(1, np.float32)).shape == (1 << 24,)  # one vector still runs


def _conv(attrs: dict[str, Any], k: int = 1) -> Layer:
    m = EIEMatrix.from_codes(np.ones((1, k * k), np.int64), np.array([0, 1.0], np.float32),
                             num_pes=1)
    return Layer("conv", m, None, None,
                 {"kind": "conv2d", "weight_shape": [1, 1, k, k], "then": [], **attrs})


def test_a_convolution_padding_from_a_file(tmp_path: Path) -> None:
    """Padding beyond the kernel's extent (outputs that see no input) is refused; within it, a
    padded input beyond MAX_ACTIVATIONS is (a dilated kernel's extent can be large)."""
    x = np.ones((1, 1, 2, 2), np.float32)
    model = _from_file(tmp_path, _conv({"padding": [1 << 20, 1 << 20]}))
    with pytest.raises(EngineError, match=r"padding should be at most the kernel's extent"):
        Engine(model, threads=1)(x)
    wide = _from_file(tmp_path, _conv({"padding": [1 << 15, 1 << 15],
                                       "dilation": [1 << 14, 1 << 14]}, k=3))
    with pytest.raises(EngineError, match="a convolution's padded input would hold"):
        Engine(wide, threads=1)(x)
    ok = _from_file(tmp_path, _conv({"padding": [1, 1]}, k=3))
    y = Engine(ok, threads=1)(x)
    assert y.shape == (1, 1, 2, 2) and y.sum() == 16.0  # every output sees the four inputs


@pytest.mark.parametrize(("pool", "size", "match"), [
    ({"kernel": [1024, 1024], "padding": [512, 512]}, 1, "more than 65536 elements"),
    ({"kernel": [200, 200], "stride": [1, 1], "padding": [100, 100]}, 200, "window work"),
    ({"kernel": [2, 2], "padding": [1, 1]}, 1 << 15, "padded input"),
])
def test_a_pooling_window_from_a_file(pool: dict[str, Any], size: int, match: str,
                                      tmp_path: Path) -> None:
    """A max-pool step before the first layer: its window is walked one offset at a time, so a
    window of 2**20 elements ran for seconds; bounded by MAX_POOL_WINDOW and the window work."""
    assert MAX_POOL_WINDOW == 1 << 16
    before = [{"op": "max_pool2d", **pool}]
    model = _from_file(tmp_path, _conv({"before": before}))
    x = np.ones((1, 1, size, size), np.float32) if size < 1 << 15 else \
        np.broadcast_to(np.float32(1), (1, 1, size, size))
    t0 = time.monotonic()
    with pytest.raises(EngineError, match=match):
        Engine(model, threads=1)(x)
    assert time.monotonic() - t0 < 5


@pytest.mark.parametrize("x", [np.array(["a", "b"]), np.array([None, None]),
                               np.ones(2, np.complex64)])
def test_the_reference_engine_refuses_inputs_that_are_not_real_numbers(x: np.ndarray) -> None:
    """Strings raised a bare ValueError; complex values lost their imaginary part silently."""
    from eie.engine import reference

    m = EIEMatrix.from_codes(np.array([[1, 0], [0, 2]]), np.array([0, 1.0, 2.0], np.float32),
                             num_pes=2)
    with pytest.raises(EngineError, match="should hold real numbers"):
        reference.spmv(m, x)
    with pytest.raises(EngineError, match="bias should hold real numbers"):
        reference.spmv(m, np.ones(2), x)
