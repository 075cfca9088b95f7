"""Engine, spmv and layout API: whole models, caching, layouts, threads, validation."""

from __future__ import annotations

import importlib
import itertools
from pathlib import Path

import numpy as np
import pytest
from engine_cases import assert_close, exact, random_input, random_matrix

import eie
from eie import _core
from eie.engine import Engine, available_isas, kernels, layout, reference, spmv, use_isa
from eie.errors import ConfigError, EngineError, FormatError


def random_model(seed: int = 0, sizes: tuple[int, ...] = (300, 200, 120, 10),
                 densities: tuple[float, ...] = (0.1, 0.4, 0.9)) -> eie.Model:
    """A random compressed MLP: sparse, weight-shared layers with bias and ReLU."""
    rng = np.random.default_rng(seed)
    layers = []
    for i, (cols, rows) in enumerate(itertools.pairwise(sizes)):
        m = random_matrix(rng, rows, cols, densities[i % len(densities)], num_pes=8)
        act = "relu" if i < len(sizes) - 2 else None
        layers.append(eie.Layer(f"fc{i + 1}", m, rng.standard_normal(rows).astype(np.float32),
                                act))
    return eie.Model(tuple(layers), source="random MLP")


def reference_model(model: eie.Model, x: np.ndarray) -> np.ndarray:
    return reference.forward(model, x)


def test_engine_matches_reference_engine_layer_by_layer(tmp_path: Path) -> None:
    model = random_model()
    path = eie.save(tmp_path / "mlp.eie", model)
    engine = Engine.load(path)
    assert [el.kind for el in engine.layers] == ["sparse", "dense", "dense"]
    rng = np.random.default_rng(1)
    x = np.maximum(rng.standard_normal(300), 0).astype(np.float32)
    y = engine(x)
    y_ref = reference_model(model, x)
    assert y.shape == (10,) and y.dtype == np.float32
    np.testing.assert_allclose(y, y_ref, rtol=1e-4, atol=1e-4)
    assert list(engine.timings_us) == ["fc1", "fc2", "fc3"]
    assert all(t > 0 for t in engine.timings_us.values())
    # batch: the same as row by row (up to rounding: the batch kernels fuse multiply-adds)
    xb = np.maximum(rng.standard_normal((5, 300)), 0).astype(np.float32)
    yb = engine(xb)
    np.testing.assert_allclose(yb, np.stack([engine(v) for v in xb]), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("layout_name", ["sparse", "dense"])
@pytest.mark.parametrize("isa", available_isas())
def test_engine_forced_layout_and_isa(layout_name: str, isa: str) -> None:
    model = random_model(2)
    engine = Engine(model, layout_name, threads=1, isa=isa)
    assert {el.kind for el in engine.layers} == {layout_name}
    x = np.maximum(np.random.default_rng(3).standard_normal(300), 0).astype(np.float32)
    np.testing.assert_allclose(engine(x), reference_model(model, x), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("entries", [17, 41, 64, 256])
def test_engine_runs_wide_codebooks_on_the_kernels(entries: int) -> None:
    """5- to 8-bit codebooks get the 8-bit CPU layouts (chosen automatically by density)."""
    rng = np.random.default_rng(entries)
    cb = np.concatenate(([0.0], np.linspace(-1, 1, entries - 1))).astype(np.float32)
    for density, kind in ((0.05, "sparse"), (0.7, "dense")):
        m = random_matrix(rng, 20, 30, density, codebook=cb, empty_cols=4)
        engine = Engine(eie.Layer("wide", m, activation="relu"))
        assert engine.layers[0].kind == kind
        assert engine.layers[0].cpu is not None and engine.layers[0].cpu.code_bits == 8
        x = random_input(rng, (30,), 0.5)
        np.testing.assert_allclose(engine(x), reference.spmv(m, x, activation="relu"),
                                   rtol=1e-5, atol=1e-6)
    assert layout.build(np.array([[1, 0]], np.uint8), cb[:16]).code_bits == 4
    with pytest.raises(FormatError, match="1..256"):
        layout.build(np.zeros((2, 2), np.uint8), np.zeros(257, np.float32))


def test_engine_rejects_non_sequential_models_and_bad_inputs() -> None:
    rng = np.random.default_rng(5)
    a, b = random_matrix(rng, 4, 5, 0.5), random_matrix(rng, 3, 7, 0.5)
    with pytest.raises(EngineError, match="sequential"):
        Engine(eie.Model((eie.Layer("a", a), eie.Layer("b", b))))
    engine = Engine(a)
    with pytest.raises(EngineError, match=r"shape \(5,\)"):
        engine(np.zeros(6, np.float32))
    with pytest.raises(EngineError, match="numbers"):
        engine(np.array(["a"] * 5))
    conv = eie.Layer("conv", a, attrs={"kind": "conv2d"})
    with pytest.raises(EngineError, match="convolution"):
        Engine(conv)


def test_spmv_caches_the_layout_per_matrix() -> None:
    spmv_module = importlib.import_module("eie.engine.spmv")  # the function shadows the module
    rng = np.random.default_rng(6)
    m = random_matrix(rng, 40, 50, 0.1)
    x = random_input(rng, (50,), 0.5)
    spmv(m, x)
    first = spmv_module.prepared(m)
    spmv(m, x)
    assert spmv_module.prepared(m) is first
    assert spmv_module.prepared(m, "dense") is not first
    assert first.kind == "sparse" and first.nnz == m.nnz


def test_spmv_bias_relu_and_shapes() -> None:
    rng = np.random.default_rng(7)
    m = random_matrix(rng, 33, 17, 0.5)
    x = random_input(rng, (17,), 1.0)
    bias = rng.standard_normal(33).astype(np.float32)
    y = spmv(m, x, bias, "relu")
    assert_close(y, *exact(m, x, bias, "relu"))
    assert np.all(y >= 0)
    with pytest.raises(EngineError, match="bias"):
        spmv(m, x, bias[:-1])
    with pytest.raises(EngineError, match="activation"):
        spmv(m, x, activation="gelu")
    with pytest.raises(EngineError, match="shape"):
        spmv(m, x[None, None])
    # float64 and integer inputs are converted to float32
    np.testing.assert_array_equal(spmv(m, x.astype(np.float64)), spmv(m, x))


def test_thread_and_isa_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(8)
    m = random_matrix(rng, 10, 10, 0.5)
    x = random_input(rng, (10,), 1.0)
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ConfigError, match="threads"):
            spmv(m, x, threads=bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="isa"):
        spmv(m, x, isa="neon")
    if "avx512" not in available_isas():
        with pytest.raises(ConfigError, match="does not support"):
            spmv(m, x, isa="avx512")
    with pytest.raises(ConfigError, match="layout"):
        spmv(m, x, layout="csr")
    # EIE_ISA is read once per process: a bad value is tested in a fresh one (test_policy_isa)
    monkeypatch.setenv("EIE_NUM_THREADS", "two")
    with pytest.raises(ConfigError, match="EIE_NUM_THREADS"):
        spmv(m, x)
    monkeypatch.setenv("EIE_NUM_THREADS", "1")
    assert kernels.default_threads() == 1
    assert_close(spmv(m, x), *exact(m, x, None, None))


def test_use_isa_sets_and_restores() -> None:
    before = _core.active_isa()
    with use_isa("scalar"):
        assert _core.active_isa() == "scalar"
    assert _core.active_isa() == before
    with pytest.raises(RuntimeError), use_isa("scalar"):
        raise RuntimeError("boom")
    assert _core.active_isa() == before


def test_layout_build_validates_once() -> None:
    cb = np.array([0.0, 1.0, 2.0], np.float32)
    with pytest.raises(FormatError, match="outside the codebook"):
        layout.build(np.array([[0, 3]], np.uint8), cb)
    with pytest.raises(FormatError, match="codebook"):
        layout.build(np.zeros((2, 2), np.uint8), np.array([1.0, 2.0], np.float32))
    with pytest.raises(FormatError, match="2-D"):
        layout.build(np.zeros(3, np.uint8), cb)
    lay = layout.build(np.zeros((0, 5), np.uint8), cb)
    assert kernels.matmul(lay, np.ones(5, np.float32)).shape == (0,)
    lay = layout.build(np.zeros((4, 0), np.uint8), cb, "dense")
    np.testing.assert_array_equal(kernels.matmul(lay, np.ones(0, np.float32)), np.zeros(4))


def test_layout_choice_follows_the_crossover() -> None:
    from eie.engine import tuning

    t = tuning.crossover(kernels.active_isa_name(), 16)
    assert layout.choose_layout(t / 2) == "sparse"
    assert layout.choose_layout(min(1.0, t * 1.01)) == "dense"
    assert layout.choose_layout(0.99, "sparse") == "sparse"
    assert layout.choose_layout(0.0, "dense") == "dense"
    t8 = tuning.crossover(kernels.active_isa_name(), 256)
    assert layout.choose_layout(t8 / 2, codebook_len=17) == "sparse"
    assert layout.choose_layout(min(1.0, t8 * 1.01), codebook_len=256) == "dense"


def test_row_blocks_balance_threads() -> None:
    codes = np.ones((5000, 3), np.uint8)
    lay = layout.build(codes, np.array([0.0, 1.0], np.float32), threads=2)
    blocks = lay.row_blocks
    assert blocks[0] == 0 and blocks[-1] == 5000
    assert (len(blocks) - 1) % 2 == 0
    assert max(np.diff(blocks)) <= 4096
    # a layer whose whole work is below the inline threshold (20000 entries) is one block
    small = layout.build(np.ones((300, 60), np.uint8), np.array([0.0, 1.0], np.float32),
                         "sparse", threads=2)
    assert small.row_blocks == [0, 300]
    # blocks are split for threads only while each keeps >= 1024 rows; smaller layers get a
    # column split at run time
    assert layout.build(np.ones((2048, 128), np.uint8), np.array([0.0, 1.0], np.float32),
                        "dense", threads=2).row_blocks == [0, 1024, 2048]
    assert layout.build(np.ones((2000, 128), np.uint8), np.array([0.0, 1.0], np.float32),
                        "dense", threads=2).row_blocks == [0, 2000]
    big = layout.build(np.ones((300, 70), np.uint8), np.array([0.0, 1.0], np.float32),
                       "sparse", threads=2)
    assert big.row_blocks == [0, 300]
    # sparse layouts are never cut for threads (their threads split the columns): only the
    # 4096-row limit makes blocks
    one = np.array([0.0, 1.0], np.float32)
    assert layout.build(np.ones((4096, 64), np.uint8), one, "sparse", threads=2).row_blocks == [
        0, 4096]
    assert len(layout.build(np.ones((5000, 64), np.uint8), one, "sparse", threads=4)
               .row_blocks) == 3


@pytest.mark.parametrize("isa", available_isas())
def test_engine_whole_model_call_matches_layer_by_layer_kernels(isa: str) -> None:
    """The one-call path (CpuNetwork) against spmv layer by layer: batches past 16 (chunks),
    batch 0, float16 / bfloat16 inputs, per-layer timings."""
    model = random_model(seed=3)
    engine = Engine(model, isa=isa)
    assert engine._net is not None

    def layer_by_layer(x: np.ndarray, input_dtype: str | None = None) -> np.ndarray:
        h = x
        for i, layer in enumerate(model.layers):
            h = spmv(layer.matrix, h, layer.bias, layer.activation, isa=isa,
                     input_dtype=input_dtype if i == 0 else None)
        return h

    rng = np.random.default_rng(4)
    for batch in (1, 3, 16, 17, 40):
        x = np.maximum(rng.standard_normal((batch, 300)), 0).astype(np.float32)
        np.testing.assert_allclose(engine(x), layer_by_layer(x), rtol=1e-5, atol=1e-5)
    assert engine(np.zeros((0, 300), np.float32)).shape == (0, 10)
    x1 = np.maximum(rng.standard_normal(600), 0).astype(np.float32)[::2]  # not contiguous
    np.testing.assert_allclose(engine(x1), layer_by_layer(x1), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(engine(x1.tolist()), engine(x1), rtol=1e-6)
    assert engine(np.ascontiguousarray(x1)).shape == (10,)
    x16 = np.maximum(rng.standard_normal((5, 300)), 0).astype(np.float16)
    np.testing.assert_allclose(engine(x16), layer_by_layer(x16), rtol=1e-5, atol=1e-5)
    assert engine.run(x16, out_dtype="input").dtype == np.float16
    bits = (np.maximum(rng.standard_normal(300), 0).astype(np.float32).view(np.uint32)
            >> 16).astype(np.uint16)
    np.testing.assert_allclose(engine.run(bits, input_dtype="bfloat16"),
                               layer_by_layer(bits, "bfloat16"), rtol=1e-5, atol=1e-5)
    engine(x16[0])
    assert list(engine.timings_us) == ["fc1", "fc2", "fc3"]
    assert all(t > 0 for t in engine.timings_us.values())
    with pytest.raises(EngineError, match="shape"):
        engine(np.zeros(299, np.float32))
    with pytest.raises(ConfigError, match="threads"):
        engine(x16, threads=0)


def test_cpu_network_checks_shapes() -> None:
    rng = np.random.default_rng(5)
    a = layout.from_matrix(random_matrix(rng, 20, 30, 0.3))
    b = layout.from_matrix(random_matrix(rng, 5, 21, 0.3))
    with pytest.raises(ValueError, match="columns"):
        _core.CpuNetwork([a, b], [None, None], [True, False])
    with pytest.raises(ValueError, match="bias"):
        _core.CpuNetwork([a], [np.zeros(3, np.float32)], [False])
    net = _core.CpuNetwork([a], [None], [False])
    with pytest.raises(ValueError, match="out"):
        net.run_f32(np.zeros((2, 30), np.float32), np.zeros((1, 20), np.float32), None, 1, "")


def test_engine_concurrent_callers_get_their_own_results() -> None:
    """One Engine called from several Python threads at once (the GIL is released in the core;
    the activations between layers are per-thread)."""
    from concurrent.futures import ThreadPoolExecutor

    engine = Engine(random_model(seed=6))
    rng = np.random.default_rng(7)
    xs = [np.maximum(rng.standard_normal(300), 0).astype(np.float32) for _ in range(4)]
    want = [engine(x) for x in xs]

    def work(i: int) -> bool:
        return all(np.array_equal(engine(xs[i]), want[i]) for _ in range(200))

    with ThreadPoolExecutor(4) as pool:
        assert all(pool.map(work, range(4)))
    assert set(engine.timings_us) == {"fc1", "fc2", "fc3"}
