"""Weight sharing: codes and codebooks, centroid gradients, fine-tuning keeps the structure."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from eie.compress.prune import magnitude_mask
from eie.compress.share import (
    TiedWeight,
    apply_shared,
    finetune_centroids,
    share_weights,
    tie_weights,
    untie_weights,
)
from eie.errors import CompressionError, ConfigError


def _layer(seed: int = 0) -> torch.nn.Linear:
    torch.manual_seed(seed)
    return torch.nn.Linear(20, 12)


def test_share_reserves_code_zero_for_pruned_weights() -> None:
    lin = _layer()
    mask = magnitude_mask(lin.weight, density=0.4)
    s = share_weights(lin.weight, mask, bits=3)
    assert s.codebook[0] == 0.0 and len(s.codebook) == 8  # 2**3 - 1 centroids + zero
    assert np.array_equal(s.codes != 0, mask.numpy())
    # Every survivor maps to its nearest nonzero centroid.
    w = lin.weight.detach().numpy()[mask.numpy()]
    nearest = np.abs(w[:, None] - s.codebook[None, 1:]).argmin(1) + 1
    assert np.array_equal(s.codes[mask.numpy()], nearest)
    assert np.all(s.codebook[1:] != 0)


def test_share_exact_algorithm_no_worse() -> None:
    lin = _layer(3)
    w = lin.weight.detach().numpy().ravel()

    def sse(s: np.ndarray) -> float:
        return float(((w - s) ** 2).sum())

    lloyd_sse = sse(share_weights(lin.weight, None, 2).dense().ravel())
    exact_sse = sse(share_weights(lin.weight, None, 2, algorithm="exact").dense().ravel())
    assert exact_sse <= lloyd_sse + 1e-9


def test_share_errors() -> None:
    with pytest.raises(ConfigError, match="bits"):
        share_weights(torch.ones(2, 2), None, bits=9)
    with pytest.raises(CompressionError, match="no surviving"):
        share_weights(torch.zeros(2, 2), None, bits=4)


def test_tied_weight_gradient_is_the_per_cluster_sum() -> None:
    lin = _layer(1)
    s = share_weights(lin.weight, magnitude_mask(lin.weight, density=0.5), bits=3)
    x = torch.randn(16, 20, generator=torch.Generator().manual_seed(0))
    target = torch.randn(16, 12, generator=torch.Generator().manual_seed(1))

    # Plain weights equal to codebook[codes]: dL/dW per weight.
    plain = torch.nn.Linear(20, 12)
    plain.load_state_dict(lin.state_dict())
    apply_shared(plain, {"": s})
    ((plain(x) - target) ** 2).sum().backward()
    gw = plain.weight.grad.numpy()
    expected_sum = np.bincount(s.codes.ravel(), weights=gw.ravel(), minlength=8)[1:]
    counts = np.bincount(s.codes.ravel(), minlength=8)[1:]

    for grad, expected in (("sum", expected_sum), ("mean", expected_sum / np.maximum(counts, 1))):
        tied_model = torch.nn.Linear(20, 12)
        tied_model.load_state_dict(lin.state_dict())
        tie_weights(tied_model, {"": s}, grad=grad)
        ((tied_model(x) - target) ** 2).sum().backward()
        tied = tied_model.parametrizations["weight"][0]
        assert isinstance(tied, TiedWeight)
        np.testing.assert_allclose(tied.centroids.grad.numpy(), expected, rtol=1e-5, atol=1e-6)


def test_finetune_keeps_assignments_and_zeros() -> None:
    lin = _layer(2)
    model = torch.nn.Sequential(lin)
    mask = magnitude_mask(lin.weight, density=0.3)
    shared = {"0": share_weights(lin.weight, mask, bits=2)}
    x = torch.randn(64, 20, generator=torch.Generator().manual_seed(0))
    y = torch.randn(64, 12, generator=torch.Generator().manual_seed(1))

    def train_fn(m: torch.nn.Module, epochs: int, lr: float, report: object = None) -> None:
        opt = torch.optim.SGD(m.parameters(), lr=lr, momentum=0.9, weight_decay=0.1)
        for _ in range(epochs * 10):
            opt.zero_grad()
            ((m(x) - y) ** 2).mean().backward()
            opt.step()

    new = finetune_centroids(model, shared, train_fn, epochs=2, lr=0.05)
    assert np.array_equal(new["0"].codes, shared["0"].codes)
    assert not np.allclose(new["0"].codebook, shared["0"].codebook)  # centroids moved
    w = lin.weight.detach().numpy()
    assert np.array_equal(w, new["0"].dense())  # exactly codebook[codes]
    assert np.all(w[~mask.numpy()] == 0)
    assert not hasattr(lin, "parametrizations")  # untied again


def test_untie_without_training_restores_codebook() -> None:
    lin = _layer(4)
    model = torch.nn.Sequential(lin)
    shared = {"0": share_weights(lin.weight, None, bits=4)}
    tie_weights(model, shared)
    out = untie_weights(model, shared)
    np.testing.assert_array_equal(out["0"].codebook, shared["0"].codebook)
    np.testing.assert_array_equal(lin.weight.detach().numpy(), shared["0"].dense())


def test_dense_target_uses_every_code() -> None:
    lin = _layer(5)
    s = share_weights(lin.weight, None, bits=2, zero_code=False)
    assert len(s.codebook) == 4 and not s.zero_code
    assert set(np.unique(s.codes).tolist()) == {0, 1, 2, 3}
    w = lin.weight.detach().numpy()
    nearest = np.abs(w.ravel()[:, None] - s.codebook[None]).argmin(1).reshape(w.shape)
    assert np.array_equal(s.codes, nearest)
    model = torch.nn.Sequential(lin)
    x = torch.randn(32, 20, generator=torch.Generator().manual_seed(0))

    def train_fn(m: torch.nn.Module, epochs: int, lr: float, report: object = None) -> None:
        opt = torch.optim.SGD(m.parameters(), lr=lr)
        for _ in range(5):
            opt.zero_grad()
            (m(x) ** 2).mean().backward()
            opt.step()

    new = finetune_centroids(model, {"0": s}, train_fn, epochs=1, lr=0.1)
    assert not new["0"].zero_code and len(new["0"].codebook) == 4
    assert np.array_equal(lin.weight.detach().numpy(), new["0"].dense())
    assert not np.allclose(new["0"].codebook, s.codebook)
