"""eie.engine.conv against torch: im2col, convolutions (stride, padding, dilation, bias, ReLU) on
the kernels and the reference, pooling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import eie
from eie.engine import conv
from eie.engine.spmv import prepared
from eie.errors import EngineError


@pytest.mark.parametrize(("stride", "padding", "dilation"),
                         [((1, 1), (0, 0), (1, 1)), ((2, 1), (1, 2), (1, 2)),
                          ((3, 2), (2, 0), (2, 1))])
def test_conv2d_matches_torch(stride: tuple[int, int], padding: tuple[int, int],
                              dilation: tuple[int, int]) -> None:
    rng = np.random.default_rng(0)
    out, c, kh, kw = 6, 3, 3, 2
    cb = np.array([0.0, 0.5, -0.25, 1.0, -1.5], np.float32)
    codes = np.where(rng.random((out, c * kh * kw)) < 0.4, rng.integers(1, 5, (out, c * kh * kw)),
                     0)
    m = eie.EIEMatrix.from_codes(codes, cb, num_pes=2)
    bias = rng.standard_normal(out).astype(np.float32)
    attrs = {"kind": "conv2d", "weight_shape": [out, c, kh, kw], "stride": list(stride),
             "padding": list(padding), "dilation": list(dilation)}
    x = rng.standard_normal((2, c, 9, 8)).astype(np.float32)
    w = torch.from_numpy(m.to_dense().reshape(out, c, kh, kw))
    want = torch.relu(torch.nn.functional.conv2d(torch.from_numpy(x), w, torch.from_numpy(bias),
                                                 stride, padding, dilation)).numpy()
    for layout in ("sparse", "dense"):
        got = conv.conv2d(prepared(m, layout), x, attrs, bias, "relu")
        np.testing.assert_allclose(got, want, atol=1e-5)
    ref = conv.conv2d_reference(eie.Layer("c", m, bias, "relu", attrs), x)
    np.testing.assert_allclose(ref, want, atol=1e-5)
    cols = conv.im2col(x, (kh, kw), stride, padding, dilation)
    unfold = torch.nn.functional.unfold(torch.from_numpy(x), (kh, kw), dilation, padding, stride)
    np.testing.assert_array_equal(cols, unfold.transpose(1, 2).reshape(-1, c * kh * kw).numpy())
    with pytest.raises(EngineError, match=r"expects \(N, 3, H, W\)"):
        conv.conv2d(prepared(m), x[:, :2], attrs)


@pytest.mark.parametrize("op", ["max_pool2d", "avg_pool2d"])
@pytest.mark.parametrize(("k", "s", "p"), [((2, 2), (2, 2), (0, 0)), ((3, 3), (2, 2), (1, 1)),
                                           ((3, 2), (1, 2), (1, 0))])
def test_pooling_matches_torch(op: str, k: tuple[int, int], s: tuple[int, int],
                               p: tuple[int, int]) -> None:
    h = np.random.default_rng(1).standard_normal((2, 3, 9, 11)).astype(np.float32)
    got = conv.apply_step({"op": op, "kernel": list(k), "stride": list(s), "padding": list(p)}, h)
    want = getattr(torch.nn.functional, op)(torch.from_numpy(h), k, s, p).numpy()
    np.testing.assert_allclose(got, want, atol=1e-6)


def test_steps_reject_what_they_do_not_know() -> None:
    h = np.zeros((1, 2, 4, 4), np.float32)
    assert conv.apply_step({"op": "flatten"}, h).shape == (1, 32)
    assert conv.apply_step({"op": "reshape", "shape": [2, 16]}, h).shape == (1, 2, 16)
    with pytest.raises(EngineError, match="unknown step"):
        conv.apply_step({"op": "gelu"}, h)
    with pytest.raises(EngineError, match="cannot reshape"):
        conv.apply_step({"op": "reshape", "shape": [3, 3]}, h)
    with pytest.raises(EngineError, match="unknown step"):
        conv.check_steps([{"op": "softmax"}], "fc")
