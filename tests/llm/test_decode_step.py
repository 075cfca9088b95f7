"""The decoder's one-token glue in C++ (csrc/llm/decode_step.cpp: ``_core.rms_norm``,
``_core.silu_mul``, ``_core.attend_one``) against numpy forms of the same operations (the
decoder's prefill path, ``Decoder._attend``, computes them so), and its refusals. End to end,
tests/llm/test_runtime.py's greedy continuations identical to transformers' run through it."""

from __future__ import annotations

import numpy as np
import pytest

from eie import _core

RTOL = 2e-5  # float32 rounding: exp, sqrt and the sum orders differ from numpy's


def _rotate(x: np.ndarray, cos: np.ndarray, sin_signed: np.ndarray) -> np.ndarray:
    h = x.shape[-1] // 2
    perm = np.r_[np.arange(h, 2 * h), np.arange(h)]
    return x * cos + x[..., perm] * sin_signed


def _attend_ref(q, k, v, cos, sin, kc, vc, pos, start, scaling):  # type: ignore[no-untyped-def]
    nkv, _cap, hd = kc.shape
    nh = q.size // hd
    g = nh // nkv
    qr = _rotate(q.reshape(nh, hd), cos, sin)
    kr = _rotate(k.reshape(nkv, hd), cos, sin)
    kc, vc = kc.copy(), vc.copy()
    kc[:, pos], vc[:, pos] = kr, v.reshape(nkv, hd)
    out = np.empty((nh, hd), np.float64)
    for h in range(nh):
        j = h // g
        s = kc[j, start:pos + 1].astype(np.float64) @ qr[h].astype(np.float64) * scaling
        p = np.exp(s - s.max())
        p /= p.sum()
        out[h] = p @ vc[j, start:pos + 1].astype(np.float64)
    return qr, kr, kc, vc, out.ravel()


@pytest.mark.parametrize("nh, nkv, hd, pos, start", [
    (9, 3, 64, 0, 0),      # SmolLM2's heads, the first token
    (9, 3, 64, 37, 0),
    (4, 4, 16, 20, 13),    # a sliding window: positions 13..20
    (6, 2, 10, 5, 5),      # the window of one position, an odd half
])
def test_attend_one_matches_numpy(nh: int, nkv: int, hd: int, pos: int, start: int) -> None:
    rng = np.random.default_rng(nh * 100 + pos)
    cap = pos + 3
    q = rng.standard_normal(nh * hd).astype(np.float32)
    k = rng.standard_normal(nkv * hd).astype(np.float32)
    v = rng.standard_normal(nkv * hd).astype(np.float32)
    ang = rng.uniform(0, 6.3, hd).astype(np.float32)
    cos, sin = np.cos(ang).astype(np.float32), np.sin(ang).astype(np.float32)
    sin[: hd // 2] *= -1.0
    kc = rng.standard_normal((nkv, cap, hd)).astype(np.float32)
    vc = rng.standard_normal((nkv, cap, hd)).astype(np.float32)
    qr, _kr, kc_ref, vc_ref, ref = _attend_ref(q, k, v, cos, sin, kc, vc, pos, start, 0.125)
    out = np.empty(nh * hd, np.float32)
    _core.attend_one(q, k, v, cos, sin, kc, vc, nh, pos, start, 0.125, out)
    np.testing.assert_allclose(q.reshape(nh, hd), qr, rtol=RTOL, atol=1e-6)  # rotated in place
    np.testing.assert_allclose(kc, kc_ref, rtol=RTOL, atol=1e-6)             # the new key
    assert np.array_equal(vc, vc_ref)                                        # the new value
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)


def test_rms_norm_and_silu_mul_match_numpy() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(576).astype(np.float32) * 3
    w = rng.standard_normal(576).astype(np.float32)
    y = np.empty_like(x)
    _core.rms_norm(x, w, 1e-5, y)
    ref = x.astype(np.float64) / np.sqrt(np.mean(x.astype(np.float64) ** 2) + 1e-5) * w
    np.testing.assert_allclose(y, ref, rtol=RTOL, atol=1e-6)
    g = rng.standard_normal(1536).astype(np.float32) * 4
    u = rng.standard_normal(1536).astype(np.float32)
    m = np.empty_like(g)
    _core.silu_mul(g, u, m)
    np.testing.assert_allclose(m, g / (1 + np.exp(-g.astype(np.float64))) * u, rtol=RTOL,
                               atol=1e-6)


def test_refusals() -> None:
    kc = np.zeros((3, 8, 64), np.float32)
    q, kv, out = np.zeros(9 * 64, np.float32), np.zeros(3 * 64, np.float32), \
        np.zeros(9 * 64, np.float32)
    cs = np.zeros(64, np.float32)
    with pytest.raises(ValueError, match="positions"):
        _core.attend_one(q, kv, kv, cs, cs, kc, kc.copy(), 9, 8, 0, 1.0, out)  # pos == cap
    with pytest.raises(ValueError, match="positions"):
        _core.attend_one(q, kv, kv, cs, cs, kc, kc.copy(), 9, 2, 3, 1.0, out)  # start > pos
    with pytest.raises(ValueError, match="multiple"):
        _core.attend_one(q, kv, kv, cs, cs, kc, kc.copy(), 8, 2, 0, 1.0, out)
    with pytest.raises(ValueError, match="q should hold"):
        _core.attend_one(q[:-1], kv, kv, cs, cs, kc, kc.copy(), 9, 2, 0, 1.0, out)
    with pytest.raises(ValueError, match="one shape"):
        _core.attend_one(q, kv, kv, cs, cs, kc, np.zeros((3, 7, 64), np.float32), 9, 2, 0,
                         1.0, out)
    with pytest.raises(ValueError, match="one length"):
        _core.rms_norm(cs, cs[:-1], 1e-5, cs.copy())
