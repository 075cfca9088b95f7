"""A Llama-family decoder (llama, mistral, qwen2) whose Linear layers run on eie's kernels.

Everything between the Linear layers is a few numpy operations on one token's vectors (batch 1):
RMSNorm, rotary position embedding, grouped-query attention over a preallocated KV cache, SiLU
gating, residual adds. The weights come from the transformers model (``LlamaForCausalLM`` and
its relatives) and the quantized layers (``eie.llm.qweight.QuantizedWeight``), converted once
(``eie.llm.engine_linear``). The arithmetic follows transformers' float32 eager forward, so a
greedy continuation matches torch's with the same weights (``tests/llm/test_runtime.py``).

Shapes: ``T`` tokens of this call, ``S`` cached positions after it, ``d`` hidden size, ``nh``
query heads, ``nkv`` key/value heads (``g = nh / nkv`` queries share one), ``hd`` head size.

Each call adds its wall time to ``times`` by stage (seconds): ``linear`` (the kernels and their
call), ``attention`` (cache write, scores, softmax, weighted sum), ``norm_rotary`` (RMSNorm,
rotary, SiLU gating, residual adds, activation thresholds), ``embed`` and ``lm_head``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from eie import _core
from eie.errors import ConfigError
from eie.llm.engine_linear import EngineLinear, build_fused, build_linear, fusable
from eie.llm.qweight import QuantizedWeight

F32 = npt.NDArray[np.float32]
SUPPORTED = ("llama", "mistral", "qwen2")
STAGES = ("embed", "norm_rotary", "linear", "attention", "lm_head")


Limit = float | npt.NDArray[np.float32]


def _limit(value: Any, cols: int) -> Limit:
    """A threshold as ``_sparse`` takes it: a float, or a float32 vector of ``cols``."""
    if isinstance(value, np.ndarray) and value.ndim == 1:
        if value.shape[0] != cols:
            raise ConfigError(f"a per-column activation threshold should have {cols} entries, "
                              f"found {value.shape[0]}")
        return np.ascontiguousarray(value, np.float32)
    v = float(value)
    if not v >= 0.0:
        raise ConfigError(f"an activation threshold should be >= 0, found {v}")
    return v


def _windows(cfg: Any) -> list[int | None]:
    """Each layer's sliding attention window, as transformers applies it: Mistral's
    ``sliding_window`` on every layer; Qwen2's on the layers ``layer_types`` marks
    ``sliding_attention`` (with ``use_sliding_window``); none for Llama."""
    n = int(cfg.num_hidden_layers)
    window = getattr(cfg, "sliding_window", None)
    if cfg.model_type == "llama" or window is None:
        return [None] * n
    if cfg.model_type == "qwen2":
        if not getattr(cfg, "use_sliding_window", False):
            return [None] * n
        types = getattr(cfg, "layer_types", None)
        if types is None:
            start = int(getattr(cfg, "max_window_layers", 0))
            types = ["sliding_attention" if i >= start else "full_attention" for i in range(n)]
        return [int(window) if t == "sliding_attention" else None for t in types[:n]]
    return [int(window)] * n


def _np(t: Any) -> F32:
    return np.ascontiguousarray(t.detach().float().cpu().numpy(), dtype=np.float32)


def _bias(module: Any) -> F32 | None:
    b = getattr(module, "bias", None)
    return None if b is None else _np(b)


class _Block:
    """One decoder layer's prepared weights and its KV cache."""

    def __init__(self, i: int, layer: Any, quantized: Mapping[str, QuantizedWeight],
                 threads: int | None, fuse: bool, precision: str = "fp32") -> None:
        pre = f"model.layers.{i}."
        att, mlp = layer.self_attn, layer.mlp
        self.ln_in = _np(layer.input_layernorm.weight)
        self.ln_post = _np(layer.post_attention_layernorm.weight)
        self.names: dict[str, str] = {}  # runtime linear -> the first model Linear it reads for

        def lin(name: str, mod: Any) -> EngineLinear:
            return build_linear(pre + name, quantized.get(pre + name), _np(mod.weight),
                                _bias(mod), threads, precision)

        qkv = [quantized.get(pre + n) for n in ("self_attn.q_proj", "self_attn.k_proj",
                                                  "self_attn.v_proj")]
        if fuse and fusable(qkv):
            self.qkv: list[EngineLinear] = [build_fused(
                pre + "self_attn.qkv", qkv, [_bias(att.q_proj), _bias(att.k_proj),  # type: ignore[arg-type]
                                             _bias(att.v_proj)], threads, precision)]
        else:
            self.qkv = [lin("self_attn.q_proj", att.q_proj), lin("self_attn.k_proj", att.k_proj),
                        lin("self_attn.v_proj", att.v_proj)]
        self.o = lin("self_attn.o_proj", att.o_proj)
        gu = [quantized.get(pre + "mlp.gate_proj"), quantized.get(pre + "mlp.up_proj")]
        if fuse and fusable(gu):
            self.gate_up: list[EngineLinear] = [build_fused(
                pre + "mlp.gate_up", gu, [_bias(mlp.gate_proj), _bias(mlp.up_proj)],  # type: ignore[arg-type]
                threads, precision)]
        else:
            self.gate_up = [lin("mlp.gate_proj", mlp.gate_proj), lin("mlp.up_proj", mlp.up_proj)]
        self.down = lin("mlp.down_proj", mlp.down_proj)
        # activation thresholds (TEAL-style), by the model Linear whose input each call reads: a
        # number, or one per input column (eie.llm.actalloc's weight-informed thresholds)
        self.limit_qkv: Limit = 0.0
        self.limit_o: Limit = 0.0
        self.limit_gu: Limit = 0.0
        self.limit_down: Limit = 0.0
        self.qkv_name, self.o_name = pre + "self_attn.q_proj", pre + "self_attn.o_proj"
        self.gu_name, self.down_name = pre + "mlp.gate_proj", pre + "mlp.down_proj"
        self.k_cache = np.zeros((0, 0, 0), np.float32)
        self.v_cache = np.zeros((0, 0, 0), np.float32)

    @property
    def linears(self) -> list[EngineLinear]:
        return [*self.qkv, self.o, *self.gate_up, self.down]


class Decoder:
    """``forward(ids, pos0)`` -> logits of the last token (or of every token), KV cache kept.

    ``quantized`` maps model Linear names to their quantized weights; Linear layers not in it run
    as float32 dense matrices (the tied LM head of SmolLM2, say). ``threads`` is the kernels'
    thread count (None: ``EIE_NUM_THREADS`` or all cores); ``fuse`` stacks q/k/v and gate/up
    into one matrix each where their codebooks allow; ``precision`` is the engine Linear layers'
    (``eie.engine.kernels``: "fp32", "bf16" or "int8"); ``head_dtype`` "float16" runs an
    unquantized LM head rounded to float16 on the engine's float16 GEMV (half the bytes of the
    float32 one; ``eie.llm.engine_linear.DENSE_DTYPES``).
    """

    def __init__(self, model: Any, quantized: Mapping[str, QuantizedWeight],
                 threads: int | None = None, fuse: bool = True, precision: str = "fp32",
                 head_dtype: str = "float32") -> None:
        cfg = model.config
        if cfg.model_type not in SUPPORTED:
            raise ConfigError(f"the engine runtime runs decoders of type {SUPPORTED}, found "
                              f"{cfg.model_type!r}")
        if getattr(cfg, "hidden_act", "silu") != "silu":
            raise ConfigError(f"the engine runtime runs SiLU-gated MLPs, found hidden_act "
                              f"{cfg.hidden_act!r}")
        rope = getattr(cfg, "rope_scaling", None) or {}
        rope_type = rope.get("rope_type", rope.get("type", "default")) if isinstance(rope, dict) \
            else "default"
        if rope_type == "dynamic":
            raise ConfigError("rope_type 'dynamic' (length-dependent frequencies) is not "
                              "supported by the engine runtime")
        self.config = cfg
        self.d = int(cfg.hidden_size)
        self.nh = int(cfg.num_attention_heads)
        self.nkv = int(getattr(cfg, "num_key_value_heads", None) or self.nh)
        self.hd = int(getattr(cfg, "head_dim", None) or self.d // self.nh)
        self.g = self.nh // self.nkv
        self.eps = float(cfg.rms_norm_eps)
        self.vocab = int(cfg.vocab_size)
        self.max_positions = int(cfg.max_position_embeddings)
        self.windows = _windows(cfg)
        """Per block, its sliding attention window (keys ``k > q - window`` seen) or None."""
        core = model.model
        self.scaling = float(core.layers[0].self_attn.scaling)
        self.inv_freq = _np(core.rotary_emb.inv_freq)  # (hd / 2,)
        self.rope_scale = float(getattr(core.rotary_emb, "attention_scaling", 1.0))
        self.embed = _np(core.embed_tokens.weight)  # (vocab, d)
        self.norm = _np(core.norm.weight)
        self.blocks = [_Block(i, layer, quantized, threads, fuse, precision)
                       for i, layer in enumerate(core.layers)]
        head = model.lm_head
        self.lm_head = build_linear("lm_head", quantized.get("lm_head"), _np(head.weight),
                                    _bias(head), threads, precision, dense_dtype=head_dtype)
        self.threads = threads
        self.times = dict.fromkeys(STAGES, 0.0)
        self.length = 0
        self._cos = np.zeros((0, self.hd), np.float32)
        self._sin = np.zeros((0, self.hd), np.float32)
        half = self.hd // 2
        self._perm = np.concatenate([np.arange(half, self.hd), np.arange(half)])
        self.limits: dict[str, Limit] = {}
        self.block_calls = True
        """One token: every block in one C++ call (``_core.CpuDecodePlan``) where each block's
        four Linear calls are whole engine networks and no thresholds are set; False: a call
        per step (the same operations). Planned at ``reset`` and ``set_thresholds`` (layouts,
        thresholds and ``EngineLinear.record`` as they are then)."""
        self._plan: Any = None

    # ------------------------------------------------------------------------------ set-up
    @property
    def linears(self) -> list[EngineLinear]:
        """Every runtime Linear of the decoder layers (the LM head not included)."""
        return [lin for b in self.blocks for lin in b.linears]

    def set_thresholds(self, limits: Mapping[str, Limit]) -> None:
        """Activation thresholds by model Linear name (``eie.llm.actsparsity.thresholds``, or
        ``eie.llm.actalloc``'s per-column ones): each Linear's input entries with
        ``|x| < limit`` are zeroed. Fused layers use the first member's (q_proj, gate_proj); an
        empty mapping turns it off."""
        self.limits = dict(limits)
        for b in self.blocks:
            b.limit_qkv = _limit(limits.get(b.qkv_name, 0.0), self.d)
            b.limit_o = _limit(limits.get(b.o_name, 0.0), b.o.cols)
            b.limit_gu = _limit(limits.get(b.gu_name, 0.0), self.d)
            b.limit_down = _limit(limits.get(b.down_name, 0.0), b.down.cols)
        self.replan()

    def replan(self) -> None:
        """Build the one-call path's plan (``_core.CpuDecodePlan``: every block's networks,
        norm weights and caches), or None where a block cannot take it. ``reset`` and
        ``set_thresholds`` call it; call it after changing a Linear's layout."""
        self._plan = None
        if not self.block_calls or not self.blocks or self.blocks[0].k_cache.shape[1] < 1:
            return
        parts = [self._block_call(b) for b in self.blocks]
        settings = {p[1] for p in parts if p is not None}
        if any(p is None for p in parts) or len(settings) != 1:
            return
        ((threads, isa, precision),) = settings
        self._plan = _core.CpuDecodePlan(
            [n for p in parts if p is not None for n in p[0]],
            [w for b in self.blocks for w in (b.ln_in, b.ln_post)],
            [b.k_cache for b in self.blocks], [b.v_cache for b in self.blocks],
            [-1 if w is None else int(w) for w in self.windows], self.nh, self.eps,
            self.scaling, threads, isa, precision)

    @staticmethod
    def _block_call(b: _Block) -> tuple[list[Any], tuple[int, str, str]] | None:
        """A block's four networks and their (threads, ISA, precision), where its Linear calls
        are whole engine networks, none recorded, and no thresholds are set."""
        if len(b.qkv) != 1 or len(b.gate_up) != 1:
            return None
        lins = [b.qkv[0], b.o, b.gate_up[0], b.down]
        if any(lin.record is not None for lin in lins) or \
                any(not isinstance(t, float) or t > 0.0 for t in
                    (b.limit_qkv, b.limit_o, b.limit_gu, b.limit_down)):
            return None
        nets, settings = [], set()
        for lin in lins:
            e = lin._single
            if e is None or e._net is None:
                return None
            nets.append(e._net)
            settings.add((e._nthreads, e._isa_name, e.precision))
        return (nets, settings.pop()) if len(settings) == 1 else None

    def reset(self, capacity: int) -> None:
        """Empty the KV cache and make room for ``capacity`` positions."""
        if not 1 <= capacity <= self.max_positions:
            raise ConfigError(f"the sequence should have 1..{self.max_positions} positions "
                              f"(the model's max_position_embeddings), found {capacity}")
        for b in self.blocks:
            if b.k_cache.shape[1] < capacity:
                b.k_cache = np.zeros((self.nkv, capacity, self.hd), np.float32)
                b.v_cache = np.zeros((self.nkv, capacity, self.hd), np.float32)
        if self._cos.shape[0] < capacity:
            pos = np.arange(capacity, dtype=np.float32)
            freqs = pos[:, None] * self.inv_freq[None, :]  # (capacity, hd / 2), as torch
            emb = np.concatenate([freqs, freqs], axis=1)
            self._cos = (np.cos(emb) * self.rope_scale).astype(np.float32)
            self._sin = (np.sin(emb) * self.rope_scale).astype(np.float32)
            # rotate_half(x) * sin == x[perm] * sin_signed: one gather instead of a concatenate
            self._sin[:, :self.hd // 2] *= -1.0
        self.length = 0
        self.replan()

    def reset_times(self) -> None:
        self.times = dict.fromkeys(STAGES, 0.0)

    # ------------------------------------------------------------------------------ forward
    def _blocks_in_one_call(self, h: F32, pos0: int) -> F32:
        """One token through every block in one C++ call (``_core.CpuDecodePlan.run``)."""
        assert self._plan is not None
        h = np.ascontiguousarray(h, np.float32)
        acc = np.zeros(3, np.float64)  # seconds: Linear, norms, attention
        self._plan.run(h[0], pos0, self._cos[pos0], self._sin[pos0], acc)
        times = self.times
        times["linear"] += float(acc[0])
        times["norm_rotary"] += float(acc[1])
        times["attention"] += float(acc[2])
        return h

    def _rms(self, x: F32, w: F32) -> F32:
        """RMSNorm of each row of x (T, d), times w (d,). One token: one C++ call
        (decode_step.h; the sum of squares in double)."""
        if x.shape[0] == 1 and x.flags.c_contiguous and x.dtype == np.float32:
            y = np.empty_like(x)
            _core.rms_norm(x[0], w, self.eps, y[0])
            return y
        var = np.mean(x * x, axis=-1, keepdims=True)
        return (x * (1.0 / np.sqrt(var + np.float32(self.eps)))).astype(np.float32) * w

    def _rotate(self, x: F32, cos: F32, sin: F32) -> F32:
        """x (T, heads, hd); cos, sin (T, 1, hd), sin's first half negated (``reset``):
        ``x * cos + rotate_half(x) * sin`` as transformers computes it."""
        y = x[..., self._perm] * sin
        y += x * cos
        return y

    @staticmethod
    def _sparse(x: F32, limit: Limit) -> F32:
        if isinstance(limit, float):
            return x if limit <= 0.0 else np.where(np.abs(x) >= limit, x, np.float32(0.0))
        return np.where(np.abs(x) >= limit, x, np.float32(0.0))

    def _attend(self, b: _Block, window: int | None, q: F32, k: F32, v: F32, cos: F32,
                sin: F32, masks: dict[int | None, F32 | None], pos0: int, end: int
                ) -> tuple[F32, float, float]:
        """Attention of n tokens in numpy (prefill): rotary, cache write, scores, softmax,
        weighted sum; returns the output (n, nh * hd) and the clock after rotary and at the
        end."""
        clock = time.perf_counter
        n = q.shape[0]
        nh, nkv, hd, g = self.nh, self.nkv, self.hd, self.g
        q = self._rotate(q.reshape(n, nh, hd), cos, sin)
        k = self._rotate(k.reshape(n, nkv, hd), cos, sin)
        t4 = clock()
        b.k_cache[:, pos0:end] = k.transpose(1, 0, 2)
        b.v_cache[:, pos0:end] = v.reshape(n, nkv, hd).transpose(1, 0, 2)
        qh = q.reshape(n, nkv, g, hd).transpose(1, 2, 0, 3)  # (nkv, g, T, hd)
        # one token with a window sees the last `window` positions only
        start = 0 if window is None or n > 1 else max(0, end - window)
        kc = b.k_cache[:, None, start:end]  # (nkv, 1, S, hd)
        s = np.matmul(qh, kc.transpose(0, 1, 3, 2)) * np.float32(self.scaling)  # (nkv, g, T, S)
        mask = masks[window]
        if mask is not None:
            s = s + mask
        s = np.exp(s - s.max(axis=-1, keepdims=True))
        s /= s.sum(axis=-1, keepdims=True)
        a = np.matmul(s, b.v_cache[:, None, start:end])  # (nkv, g, T, hd)
        a = np.ascontiguousarray(a.transpose(2, 0, 1, 3).reshape(n, nh * hd))
        t5 = clock()
        return a, t4, t5

    def forward(self, ids: list[int] | npt.NDArray[np.int64], all_logits: bool = False) -> F32:
        """Run ``ids`` (T tokens) after the cached positions; returns the logits of the last
        token ``(vocab,)``, or of every token ``(T, vocab)`` with ``all_logits``."""
        times = self.times
        clock = time.perf_counter
        t0 = clock()
        ids_arr = np.asarray(ids, dtype=np.int64)
        n = ids_arr.shape[0]
        pos0 = self.length
        end = pos0 + n
        if n < 1 or end > self._cos.shape[0]:
            raise ConfigError(f"the KV cache holds {self._cos.shape[0]} positions, {pos0} used; "
                              f"cannot add {n} (call reset with a larger capacity)")
        if ids_arr.min() < 0 or ids_arr.max() >= self.vocab:
            raise ConfigError(f"token ids should be in 0..{self.vocab - 1}")
        h = self.embed[ids_arr]  # (T, d), a copy
        cos = self._cos[pos0:end, None, :]
        sin = self._sin[pos0:end, None, :]
        masks: dict[int | None, F32 | None] = {}  # by window: None = plain causal
        for window in set(self.windows):
            if n > 1:  # causal: token t sees positions <= pos0 + t (and > pos0 + t - window)
                qpos = np.arange(pos0, end)[:, None]
                kpos = np.arange(end)[None, :]
                seen = kpos <= qpos
                if window is not None:
                    seen &= kpos > qpos - window
                masks[window] = np.where(seen, np.float32(0.0), np.float32(-np.inf))
            else:
                masks[window] = None
        nh, hd = self.nh, self.hd
        t1 = clock()
        times["embed"] += t1 - t0
        one = n == 1  # one token: the glue between the Linear layers in C++ (decode_step.h)
        planned = one and self.block_calls and self._plan is not None
        if planned:  # every block in one C++ call; else a call per step below
            h = self._blocks_in_one_call(h, pos0)
            t1 = clock()
        for b, window in () if planned else zip(self.blocks, self.windows, strict=True):
            # attention
            x = self._sparse(self._rms(h, b.ln_in), b.limit_qkv)
            t2 = clock()
            if len(b.qkv) == 1:
                q, k, v = b.qkv[0].parts(b.qkv[0](x))
            else:
                q, k, v = (lin(x) for lin in b.qkv)
            t3 = clock()
            if one:  # rotary, cache write, scores, softmax, weighted sum: one call
                start = 0 if window is None else max(0, end - window)
                a = np.empty((1, nh * hd), np.float32)
                _core.attend_one(q[0], k[0], v[0], self._cos[pos0], self._sin[pos0],
                                 b.k_cache, b.v_cache, nh, pos0, start, self.scaling, a[0])
                t4 = t5 = clock()
            else:
                a, t4, t5 = self._attend(b, window, q, k, v, cos, sin, masks, pos0, end)
            a = self._sparse(a, b.limit_o)
            t6 = clock()
            h = h + b.o(a)
            t7 = clock()
            # MLP
            x = self._sparse(self._rms(h, b.ln_post), b.limit_gu)
            t8 = clock()
            if len(b.gate_up) == 1:
                gt, up = b.gate_up[0].parts(b.gate_up[0](x))
            else:
                gt, up = (lin(x) for lin in b.gate_up)
            t9 = clock()
            if one:
                e = np.empty_like(up)
                _core.silu_mul(gt[0], up[0], e[0])
            else:
                e = np.negative(gt)  # silu(gate) * up, in place: gate / (1 + exp(-gate)) * up
                np.exp(e, out=e)
                e += 1.0
                np.divide(gt, e, out=e)
                e *= up
            m = self._sparse(e, b.limit_down)
            t10 = clock()
            h = h + b.down(m)
            t11 = clock()
            times["linear"] += (t3 - t2) + (t7 - t6) + (t9 - t8) + (t11 - t10)
            times["attention"] += t5 - t4 + (t4 - t3 if one else 0.0)
            times["norm_rotary"] += (t2 - t1) + (0.0 if one else t4 - t3) + (t6 - t5) + \
                (t8 - t7) + (t10 - t9)
            t1 = t11
        self.length = end
        out = self._rms(h if all_logits else h[-1:], self.norm)
        t12 = clock()
        times["norm_rotary"] += t12 - t1
        logits = self.lm_head(np.ascontiguousarray(out, dtype=np.float32))
        times["lm_head"] += clock() - t12
        return logits if all_logits else logits[0]
