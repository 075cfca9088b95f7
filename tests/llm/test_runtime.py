"""The engine runtime (``eie.llm.runtime``): quantized Linear layers on eie's kernels against
torch with the same dequantized weights, and greedy decoding identical to transformers'."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from eie.errors import ConfigError
from eie.llm.engine_linear import build_linear, to_blocks
from eie.llm.quantize import parse_spec, quantize_model, quantize_weight
from eie.llm.sampling import Sampler

LINEAR_RTOL = 2e-6
"""Engine vs torch float32 Linear: max |difference| / max |torch output|. Both accumulate in
float32 in different orders (and column blocks are summed after their kernels)."""
BF16_COSINE_MIN = 0.999
"""MiniLM embeddings with bf16 products (inputs rounded to 8 significant bits) vs fp32."""
LOGITS_ATOL = 1e-3
"""Decoder logits vs transformers' (|logits| up to ~60 on the slice): float32 rounding."""


def _torch_linear(w: np.ndarray, b: np.ndarray | None, x: np.ndarray) -> np.ndarray:
    import torch

    lin = torch.nn.Linear(w.shape[1], w.shape[0], bias=b is not None)
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy(w))
        if b is not None:
            lin.bias.copy_(torch.from_numpy(b))
        return lin(torch.from_numpy(x)).numpy()


@pytest.mark.parametrize("spec, shape, kind", [
    ("codebook:weighting=none", (192, 576), "engine"),                    # per row
    ("codebook:codebook=group:4,weighting=none", (100, 130), "engine"),  # groups, ragged last
    ("codebook:bits=3,weighting=none", (33, 257), "engine"),             # 8-entry codebooks
    ("int4:group=128", (64, 576), "engine"),                             # column blocks, 64-wide last
    ("nf4", (17, 200), "engine"),
    ("int3:group=32", (31, 96), "engine"),
    ("codebook:bits=3,weighting=none,prune=0.5", (40, 64), "engine"),     # zero code added
    ("codebook:weighting=none,prune=2:4", (40, 64), "dense-fallback"),   # 16 values + zero
    ("fp16", (16, 32), "dense-fallback"),
])
def test_each_linear_matches_torch(spec: str, shape: tuple[int, int], kind: str) -> None:
    rng = np.random.default_rng(sum(shape))
    w = (rng.standard_normal(shape) * 0.05).astype(np.float32)
    b = rng.standard_normal(shape[0]).astype(np.float32)
    q = quantize_weight(w, parse_spec(spec), None)
    dq = q.dequantize()
    blocks = to_blocks(q)
    if kind == "engine":
        assert blocks is not None
        # the conversion changes no weight value
        dense = np.concatenate([blk.matrix.to_dense() for blk in blocks], axis=1)
        assert np.array_equal(dense, dq)
    lin = build_linear("layer", q, dq, b, threads=1)
    assert lin.kind == kind
    for tokens in (1, 3, 17, 40):
        x = rng.standard_normal((tokens, shape[1])).astype(np.float32)
        ref = _torch_linear(dq, b, x)
        y = lin(x)
        assert y.shape == ref.shape
        assert np.abs(y - ref).max() <= LINEAR_RTOL * np.abs(ref).max() + 1e-7


def test_float16_dense_fallback_matches_torch_on_the_rounded_weights() -> None:
    """``dense_dtype="float16"``: the weight rounded once to float16 on the engine's float16
    GEMV equals torch's float32 Linear of those rounded values, and reads half the bytes."""
    rng = np.random.default_rng(5)
    w = (rng.standard_normal((300, 96)) * 0.05).astype(np.float32)
    b = rng.standard_normal(300).astype(np.float32)
    lin = build_linear("head", None, w, b, threads=1, dense_dtype="float16")
    assert lin.kind == "dense-fallback" and lin.dense is None and lin.dense16 is not None
    assert lin.stream_bytes == 2 * w.size
    assert build_linear("head", None, w, b, threads=1).stream_bytes == 4 * w.size
    w16 = w.astype(np.float16).astype(np.float32)
    for tokens in (1, 3, 40):
        x = rng.standard_normal((tokens, 96)).astype(np.float32)
        ref = _torch_linear(w16, b, x)
        y = lin(x)
        assert y.shape == ref.shape
        assert np.abs(y - ref).max() <= LINEAR_RTOL * np.abs(ref).max() + 1e-7
    # against the float32 values: the rounding's error, not more
    x = rng.standard_normal((1, 96)).astype(np.float32)
    exact = _torch_linear(w, b, x)
    assert 0 < np.abs(lin(x) - exact).max() <= 2.0 ** -11 * (np.abs(x) @ np.abs(w).T).max()
    with pytest.raises(ConfigError, match="float16's range"):
        build_linear("head", None, w * 1e7, None, threads=1, dense_dtype="float16")
    with pytest.raises(ConfigError, match="dtype"):
        build_linear("head", None, w, None, threads=1, dense_dtype="int8")


def test_fused_linear_parts_are_views_equal_to_each_layer() -> None:
    """q/k/v fused into one kernel call: ``parts`` splits the output into views whose values
    are each layer's own Linear; a split that does not add up to the rows is refused."""
    from eie.errors import EngineError
    from eie.llm.engine_linear import EngineLinear, build_fused

    rng = np.random.default_rng(7)
    spec = parse_spec("codebook:weighting=none")
    ws = [(rng.standard_normal((r, 64)) * 0.1).astype(np.float32) for r in (48, 16, 16)]
    qs = [quantize_weight(w, spec) for w in ws]
    fused = build_fused("qkv", qs, [None, None, None], threads=1)
    x = rng.standard_normal((1, 64)).astype(np.float32)
    y = fused(x)
    parts = fused.parts(y)
    assert [p.shape for p in parts] == [(1, 48), (1, 16), (1, 16)]
    assert all(np.shares_memory(p, y) for p in parts)
    for p, q in zip(parts, qs, strict=True):
        alone = build_linear("one", q, q.dequantize(), None, threads=1)(x)
        np.testing.assert_allclose(p, alone, rtol=0, atol=LINEAR_RTOL * np.abs(alone).max())
    with pytest.raises(EngineError, match="split"):
        EngineLinear("bad", 80, 64, None, dense=np.zeros((80, 64), np.float32), split=(48, 16))


@pytest.fixture(scope="module")
def slice2(first_blocks: Any) -> Any:
    """SmolLM2's first two blocks (the full embedding, norm and tied LM head), unquantized."""
    return first_blocks(2)


def _quantized(slice2: Any, spec: str) -> Any:
    m = copy.copy(slice2)
    m.model = copy.deepcopy(slice2.model)
    return quantize_model(m, parse_spec(spec))


def _torch_greedy(loaded: Any, ids: list[int], n: int) -> list[int]:
    import torch

    with torch.no_grad():
        out = loaded.model.generate(torch.tensor([ids]), max_new_tokens=n, do_sample=False,
                                    min_new_tokens=n, pad_token_id=0)
    return [int(t) for t in out[0, len(ids):]]


@pytest.mark.slow
@pytest.mark.parametrize("spec, linears", [
    ("codebook:weighting=none", 8),  # q/k/v and gate/up fused: 4 matrices per block
    ("int4:group=128", 14),          # column blocks of 128: not fused, 7 per block
])
def test_greedy_continuation_identical_to_torch(slice2: Any, spec: str, linears: int) -> None:
    from eie.llm.runtime import Runtime

    qm = _quantized(slice2, spec)
    rt = Runtime(qm.loaded, qm.layers, threads=1)
    assert [r["kind"] for r in rt.layers()] == ["engine"] * linears + ["dense-fallback"]
    ids = rt.encode_prompt("The engine runs every layer of the model on")
    # prefill logits against transformers' forward
    import torch

    with torch.no_grad():
        ref = qm.loaded.model(input_ids=torch.tensor([ids])).logits[0].numpy()
    assert rt.decoder is not None
    rt.decoder.reset(len(ids))
    got = rt.decoder.forward(ids, all_logits=True)
    assert np.abs(got - ref).max() < LOGITS_ATOL
    g = rt.generate(ids, 24, stop_at_eos=False)
    assert g.token_ids == _torch_greedy(qm.loaded, ids, 24)
    assert g.new_tokens == 24 and g.tokens_per_s > 0 and g.cpu_seconds > 0
    assert set(g.breakdown) == {"embed", "norm_rotary", "linear", "attention", "lm_head",
                                "sampling", "python"}
    assert sum(g.breakdown.values()) == pytest.approx(g.decode_seconds, rel=0.05)


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_blocks_in_one_call_equal_the_per_step_path(slice2: Any, precision: str) -> None:
    """One token: every block in one C++ call (``_core.CpuDecodePlan``) gives the per-step path's
    logits and KV caches bit for bit (the same float32 operations in the same order); it is
    chosen only where the four Linear calls are whole engine networks and no thresholds are
    set, and its times land in the same stages."""
    from eie.llm.runtime import Runtime

    qm = _quantized(slice2, "codebook:weighting=none")
    runs = {}
    for block_calls in (True, False):
        rt = Runtime(copy.deepcopy(qm.loaded), qm.layers, threads=1, precision=precision)
        dec = rt.decoder
        assert dec is not None
        dec.block_calls = block_calls
        ids = rt.encode_prompt("The engine runs every layer of the model on")
        dec.reset(len(ids) + 6)
        assert (dec._plan is not None) == block_calls
        logits = [dec.forward(ids)]
        dec.reset_times()
        for _ in range(6):
            logits.append(dec.forward([int(np.argmax(logits[-1]))]))
        runs[block_calls] = (np.stack(logits), [b.k_cache.copy() for b in dec.blocks],
                             [b.v_cache.copy() for b in dec.blocks], dict(dec.times))
    (l1, k1, v1, t1), (l0, k0, v0, t0) = runs[True], runs[False]
    np.testing.assert_array_equal(l1, l0)
    for a, b in zip(k1 + v1, k0 + v0, strict=True):
        np.testing.assert_array_equal(a, b)
    for stage in ("linear", "norm_rotary", "attention", "lm_head"):
        assert t1[stage] > 0 and t0[stage] > 0
    # the plan checks what it is given, once, and each run its per-token arguments
    from eie import _core

    nets = [n for b in dec.blocks for lin in (b.qkv[0], b.o, b.gate_up[0], b.down)
            for n in [lin._single._net]]
    norms = [w for b in dec.blocks for w in (b.ln_in, b.ln_post)]
    kc, vc = [b.k_cache for b in dec.blocks], [b.v_cache for b in dec.blocks]

    def plan(**kw: Any) -> Any:
        a = {"nets": nets, "norms": norms, "k_caches": kc, "v_caches": vc,
             "windows": [-1] * len(kc), "nh": dec.nh, "eps": dec.eps, "scaling": dec.scaling,
             "threads": 1, "isa": "", "precision": precision, **kw}
        return _core.CpuDecodePlan(**a)

    assert plan().num_blocks == len(dec.blocks)
    small = np.zeros((dec.nkv, 2, dec.hd), np.float32)
    for kw, msg in [({"nets": nets[:-1]}, "per block"), ({"nets": nets[1:] + nets[:1]}, "fit"),
                    ({"norms": [norms[0][:5], *norms[1:]]}, "norm weights"),
                    ({"k_caches": [small, *kc[1:]]}, "shape"), ({"nh": dec.nh + 1}, "multiple"),
                    ({"windows": [0] * len(kc)}, "window")]:
        with pytest.raises(ValueError, match=msg):
            plan(**kw)
    p = plan()
    h = np.zeros(dec.d, np.float32)
    cos, sin = dec._cos[0], dec._sin[0]
    for args, msg in [((np.zeros(dec.d + 1, np.float32), 0, cos, sin, np.zeros(3)), "h should"),
                      ((h, kc[0].shape[1], cos, sin, np.zeros(3)), "positions"),
                      ((h, 0, cos[:4], sin, np.zeros(3)), "cos"),
                      ((h, 0, cos, sin, np.zeros(2)), "times")]:
        with pytest.raises(ValueError, match=msg):
            p.run(*args)
    # thresholds, a recording, or a dense Linear in a block: the per-step path
    dec.block_calls = True
    dec.reset(4)
    assert dec._plan is not None
    dec.set_thresholds({dec.blocks[0].o_name: 0.01})
    assert dec._plan is None
    dec.set_thresholds({})
    assert dec._plan is not None
    dec.blocks[1].down.record = []
    dec.reset(4)
    assert dec._plan is None
    dec.blocks[1].down.record = None
    dec.reset(4)
    assert dec._plan is not None
    # a layout change (set_act_sparsity) plans again, with the new layout's networks
    from eie.llm.engine_linear import zero_skipping_layout

    if zero_skipping_layout() is not None:
        before = dec._plan
        rt.set_act_sparsity({}, zero_skipping=True)
        assert dec._plan is not None and dec._plan is not before
        # under int8 no layer moves (the zero-skipping layout has no int8 kernel)
        from eie.engine.kernels import int8_runs

        moves = precision == "fp32" or not int8_runs()
        assert rt.linear_layout == (zero_skipping_layout() if moves else "auto")
        outs = []
        for block_calls in (True, False):
            dec.block_calls = block_calls
            dec.reset(len(ids) + 1)
            outs.append(dec.forward([int(np.argmax(dec.forward(ids)))]))
        np.testing.assert_array_equal(outs[0], outs[1])
    qd = dict(qm.layers)
    del qd["model.layers.0.mlp.down_proj"]
    rt = Runtime(copy.deepcopy(qm.loaded), qd, threads=1)
    assert rt.decoder is not None
    rt.decoder.reset(4)
    assert rt.decoder._plan is None


@pytest.mark.slow
def test_float16_head_greedy_continuation_identical_to_torch(slice2: Any) -> None:
    """``head_dtype="float16"`` (the tied head on the float16 GEMV): torch with the same
    weights, the embedding / head rounded to float16 in the model, decodes the same tokens."""
    import torch

    from eie.llm.runtime import Runtime

    qm = _quantized(slice2, "codebook:weighting=none")
    emb = qm.loaded.model.model.embed_tokens.weight
    with torch.no_grad():
        emb.copy_(emb.half().float())  # tied: the LM head too
    rt = Runtime(qm.loaded, qm.layers, threads=1, head_dtype="float16")
    assert rt.decoder is not None and rt.decoder.lm_head.dense16 is not None
    ids = rt.encode_prompt("The engine runs every layer of the model on")
    g = rt.generate(ids, 24, stop_at_eos=False)
    assert g.token_ids == _torch_greedy(qm.loaded, ids, 24)


@pytest.mark.slow
def test_model_file_runtime_perplexity_and_sampling(slice2: Any, tmp_path: Path,
                                                    eval_text: str) -> None:
    from eie.llm import modelfile
    from eie.llm.evaluate import perplexity
    from eie.llm.runtime import load_runtime

    qm = _quantized(slice2, "codebook:weighting=none")
    path = modelfile.save(tmp_path / "slice.eie", qm)
    rt = load_runtime(path, threads=1)
    ref = perplexity(qm.loaded, eval_text, context=64, max_tokens=192)
    got = rt.perplexity(eval_text, context=64, max_tokens=192)
    assert got["predicted_tokens"] == ref["predicted_tokens"]
    assert got["perplexity"] == pytest.approx(ref["perplexity"], rel=1e-4)
    # sampling: the same seed gives the same tokens, another seed others; top_k=1 is greedy
    a = rt.generate("Sparse layers", 12, temperature=0.8, top_p=0.9, seed=3, stop_at_eos=False)
    b = rt.generate("Sparse layers", 12, temperature=0.8, top_p=0.9, seed=3, stop_at_eos=False)
    c = rt.generate("Sparse layers", 12, temperature=1.5, seed=4, stop_at_eos=False)
    greedy = rt.generate("Sparse layers", 12, stop_at_eos=False)
    k1 = rt.generate("Sparse layers", 12, temperature=1.0, top_k=1, seed=9, stop_at_eos=False)
    assert a.token_ids == b.token_ids != c.token_ids
    assert k1.token_ids == greedy.token_ids
    with pytest.raises(ConfigError, match="causal LM"):
        rt.embed(["a sentence"])
    # activation sparsity: thresholds zero inputs on the engine path, so the logits move
    limits = {r: 1e9 for r in qm.layers}
    rt.set_act_sparsity(limits)
    assert rt.generate("Sparse layers", 4, stop_at_eos=False).token_ids != \
        greedy.token_ids[:4]
    # with the thresholds' levels, only the Linear layers at or above the ISA's break-even move
    # to the zero-skipping layout; the rest keep the rowwise one
    from eie.llm.actsparsity import Thresholds
    from eie.llm.engine_linear import zero_skip_min_level, zero_skipping_layout

    lay, floor = zero_skipping_layout(), zero_skip_min_level()
    rt.set_act_sparsity(Thresholds(limits, {n: floor - 0.01 for n in limits}))
    assert rt.linear_layout == "auto"
    assert {lin.layout for lin in rt.decoder.linears} == {"auto"}
    rt.set_act_sparsity(Thresholds(limits, {n: floor if "down_proj" in n else 0.0
                                            for n in limits}))
    downs = [b.down for b in rt.decoder.blocks]
    assert [lin.layout for lin in downs] == [lay] * len(downs)
    assert rt.linear_layout == f"{lay} on {len(downs)} of {len(rt.decoder.linears)} Linear layers"
    assert {lin.layout for lin in rt.decoder.linears if lin not in downs} == {"auto"}
    rt.set_act_sparsity({})
    assert rt.generate("Sparse layers", 12, stop_at_eos=False).token_ids == greedy.token_ids
    # precision int8: the decoder's Linear layers run it (their outputs move a little), and
    # thresholds keep them on the rowwise layout where the int8 kernel runs (colrow has none)
    from eie.engine.kernels import int8_runs

    rt8 = load_runtime(path, threads=1, precision="int8")
    assert {lin.precision for lin in rt8.decoder.linears} == {"int8"}
    h = np.random.default_rng(0).standard_normal((1, rt8.decoder.d)).astype(np.float32)
    lin32, lin8 = rt.decoder.blocks[0].o, rt8.decoder.blocks[0].o
    y32, y8 = lin32(h), lin8(h)
    assert (not np.array_equal(y32, y8)) == int8_runs()
    np.testing.assert_allclose(y8, y32, atol=0.05 * float(np.abs(y32).max()))
    rt8.set_act_sparsity(Thresholds(limits, {n: 0.9 for n in limits}))
    assert rt8.linear_layout == ("auto" if int8_runs() or lay is None else lay)


@pytest.mark.slow
def test_minilm_embeddings_on_the_engine(minilm_dir: Path, sentences: list[str]) -> None:
    from eie.llm.evaluate import cosine, embeddings
    from eie.llm.runtime import Runtime
    from eie.llm.sources import load_source

    loaded = load_source(minilm_dir)
    qm = quantize_model(loaded, parse_spec("codebook:weighting=none"))
    ref = embeddings(qm.loaded, sentences[:24])
    rt = Runtime(copy.deepcopy(qm.loaded), qm.layers, threads=1)
    assert all(r["kind"] == "engine" for r in rt.layers()) and len(rt.layers()) == 37  # 6 per block and the pooler
    got = rt.embed(sentences[:24])
    assert got.shape == ref.shape
    assert cosine(ref, got)["cosine_min"] > 1 - 1e-6
    # opt-in bf16 products (AMX tiles on batches of 2..16 where the CPU has them)
    rt16 = Runtime(copy.deepcopy(qm.loaded), qm.layers, threads=1, precision="bf16")
    assert cosine(ref, rt16.embed(sentences[:24]))["cosine_min"] > BF16_COSINE_MIN
    with pytest.raises(ConfigError, match="causal LM"):
        rt.generate("x", 2)


def test_sampler_rules() -> None:
    logits = np.array([0.0, 3.0, 2.9, -5.0], np.float32)
    assert Sampler()(logits) == 1
    draws = {Sampler(temperature=1.0, top_k=2, seed=s)(logits) for s in range(40)}
    assert draws == {1, 2}  # top-k keeps the two most likely
    assert {Sampler(temperature=1.0, top_p=0.3, seed=s)(logits) for s in range(20)} == {1}
    for bad in ({"temperature": -1.0}, {"top_k": -2}, {"top_p": 0.0}, {"seed": -1}):
        with pytest.raises(ConfigError):
            Sampler(**bad)  # type: ignore[arg-type]


@pytest.mark.slow
def test_full_model_greedy_continuation_identical_to_torch(smollm2: Any) -> None:
    """All 30 blocks of SmolLM2, every Linear quantized with per-row codebooks (q/k/v and
    gate/up fused) and the tied LM head a dense fallback: the engine's greedy continuation is
    transformers' with the same weights, token for token."""
    from eie.llm.runtime import Runtime

    m = copy.copy(smollm2)
    m.model = copy.deepcopy(smollm2.model)
    qm = quantize_model(m, parse_spec("codebook:weighting=none"))
    assert len(qm.layers) == 30 * 7
    rt = Runtime(qm.loaded, qm.layers, threads=1)
    assert [r["kind"] for r in rt.layers()] == ["engine"] * (30 * 4) + ["dense-fallback"]
    ids = rt.encode_prompt("The engine runs every layer of the model on")
    g = rt.generate(ids, 16, stop_at_eos=False)
    assert g.token_ids == _torch_greedy(qm.loaded, ids, 16)
