"""Pruning masks: exact counts, N:M and block structure, load balance, masks held in training."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from eie.compress.prune import (
    MaskEnforcer,
    balanced_mask,
    block_mask,
    global_magnitude_masks,
    iterative_densities,
    magnitude_mask,
    nm_mask,
)
from eie.errors import CompressionError, ConfigError

SETTINGS = settings(derandomize=True, max_examples=30, deadline=None)


def _w(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def test_magnitude_keeps_exact_count_of_largest() -> None:
    w = _w(30, 40)
    mask = magnitude_mask(w, density=0.1)
    assert int(mask.sum()) == 120
    assert w.abs()[mask].min() >= w.abs()[~mask].max()


def test_han_quality_rule_golden() -> None:
    w = torch.tensor([0.0, 1.0, -2.0, 3.0, -4.0])
    thr = 0.5 * float(w.std())  # std = sqrt(29.2 / 4) = 2.7019, threshold 1.3509
    assert thr == pytest.approx(1.3509, abs=1e-4)
    assert magnitude_mask(w, quality=0.5).tolist() == [False, False, True, True, True]
    assert magnitude_mask(w, quality=0.3).tolist() == [False, True, True, True, True]
    with pytest.raises(ConfigError, match="exactly one"):
        magnitude_mask(w)
    with pytest.raises(ConfigError, match="density"):
        magnitude_mask(w, density=1.5)


def test_global_uses_one_threshold() -> None:
    ws = {"a": _w(20, 30, seed=1) * 0.1, "b": _w(10, 10, seed=2)}
    masks = global_magnitude_masks(ws, 0.2)
    assert sum(int(m.sum()) for m in masks.values()) == round(0.2 * 700)
    kept = torch.cat([ws[k].abs()[masks[k]] for k in ws])
    pruned = torch.cat([ws[k].abs()[~masks[k]] for k in ws])
    assert kept.min() >= pruned.max()
    # The large-magnitude layer keeps a much larger share than the small one.
    assert masks["b"].float().mean() > 0.8 > masks["a"].float().mean()


@pytest.mark.parametrize(("n", "m"), [(2, 4), (4, 8), (1, 4)])
def test_nm_exact(n: int, m: int) -> None:
    w = _w(12, 32)
    mask = nm_mask(w, n, m)
    groups = mask.reshape(12, 32 // m, m)
    assert torch.all(groups.sum(-1) == n)
    a = w.abs().reshape(12, 32 // m, m)
    g = groups
    kept_min = torch.where(g, a, torch.inf).min(-1).values
    pruned_max = torch.where(~g, a, -torch.inf).max(-1).values
    assert torch.all(kept_min >= pruned_max)


def test_nm_golden_and_conv_layout() -> None:
    assert nm_mask(torch.tensor([[1.0, -3.0, 2.0, 0.5, 9, 8, 7, 6]]), 2, 4).tolist() == \
        [[False, True, True, False, True, True, False, False]]
    conv = _w(6, 2, 2, 2)  # inputs per output: 2 * 2 * 2 = 8
    mask = nm_mask(conv, 2, 4)
    assert mask.shape == conv.shape and torch.all(mask.reshape(6, 2, 4).sum(-1) == 2)
    with pytest.raises(CompressionError, match="multiple of M"):
        nm_mask(_w(4, 10), 2, 4)


def test_block_mask_golden() -> None:
    w = torch.zeros(4, 6)
    w[0:2, 2:4] = 5.0  # block (0, 1) strongest
    w[2:4, 4:6] = 1.0  # block (1, 2) second
    w[2, 0] = 0.5
    mask = block_mask(w, (2, 2), density=2 / 6)
    expected = torch.zeros(4, 6, dtype=torch.bool)
    expected[0:2, 2:4] = True
    expected[2:4, 4:6] = True
    assert torch.equal(mask, expected)


@SETTINGS
@given(st.integers(1, 9), st.integers(1, 9), st.integers(1, 4), st.integers(1, 4),
       st.floats(0.05, 1.0))
def test_block_mask_is_made_of_whole_blocks(rows: int, cols: int, r: int, c: int,
                                            density: float) -> None:
    w = _w(rows, cols, seed=rows * 10 + cols)
    mask = block_mask(w, (r, c), density)
    br, bc = -(-rows // r), -(-cols // c)
    padded = torch.zeros(br * r, bc * c, dtype=torch.bool)
    padded[:rows, :cols] = mask
    blocks = padded.reshape(br, r, bc, c)
    # Every block is all kept or all pruned (within the matrix)
    for i in range(br):
        for j in range(bc):
            inside = blocks[i, :, j, :][: min(r, rows - i * r), : min(c, cols - j * c)]
            assert inside.all() or not inside.any()
    kept_blocks = sum(bool(blocks[i, :, j, :].any()) for i in range(br) for j in range(bc))
    assert kept_blocks == round(density * br * bc)


@SETTINGS
@given(st.integers(1, 40), st.integers(1, 30), st.integers(1, 16), st.floats(0.01, 1.0))
def test_balanced_mask_per_pe_counts_within_one(rows: int, cols: int, pes: int,
                                                density: float) -> None:
    w = _w(rows, cols, seed=rows + 100 * cols)
    try:
        mask = balanced_mask(w, density, pes)
    except CompressionError:
        assert rows % pes  # only when slices differ in size and a short one is too small
        return
    counts = [int(mask[k::pes].sum()) for k in range(min(pes, rows))]
    assert max(counts) - min(counts) <= 1
    assert sum(counts) == round(density * rows * cols)
    for k in range(min(pes, rows)):  # magnitude order within each PE's slice
        sl, m = w[k::pes].abs(), mask[k::pes]
        if m.any() and (~m).any():
            assert sl[m].min() >= sl[~m].max()


def test_balanced_differs_from_plain_magnitude_on_skewed_rows() -> None:
    w = _w(8, 16)
    w[0::2] *= 10  # PE 0 of 2 holds the large rows
    plain = magnitude_mask(w, density=0.25)
    bal = balanced_mask(w, 0.25, 2)
    assert int(plain[1::2].sum()) < 5  # plain magnitude starves PE 1
    assert int(bal[0::2].sum()) == int(bal[1::2].sum()) == 16


def test_iterative_densities() -> None:
    assert iterative_densities(0.1, 1) == [0.1]
    d = iterative_densities(0.08, 3)
    assert d[-1] == pytest.approx(0.08) and d[0] > d[1] > d[2]
    assert d[1] / d[0] == pytest.approx(d[2] / d[1])


@pytest.mark.parametrize("opt_name", ["sgd", "adam", "adamw"])
def test_masks_hold_through_optimizer_steps(opt_name: str) -> None:
    torch.manual_seed(0)
    lin = torch.nn.Linear(10, 6)
    mask = magnitude_mask(lin.weight, density=0.3)
    before = lin.weight.detach().clone()
    with MaskEnforcer([(lin.weight, mask)]):
        params = lin.parameters()
        opt: torch.optim.Optimizer
        if opt_name == "sgd":
            opt = torch.optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=0.5)
        elif opt_name == "adam":
            opt = torch.optim.Adam(params, lr=0.05, weight_decay=0.5)
        else:
            opt = torch.optim.AdamW(params, lr=0.05, weight_decay=0.5)
        for _ in range(20):
            opt.zero_grad()
            (lin(torch.randn(8, 10)) ** 2).sum().backward()
            assert torch.all(lin.weight.grad[~mask] == 0)
            opt.step()
            assert torch.all(lin.weight[~mask] == 0)
            for v in opt.state[lin.weight].values():
                if isinstance(v, torch.Tensor) and v.shape == mask.shape:
                    assert torch.all(v[~mask] == 0)
    assert not torch.equal(lin.weight[mask], before[mask])  # the kept weights did train
    # After the context ends the hooks are gone: a step may now move pruned weights.
    opt.zero_grad()
    (lin(torch.randn(8, 10)) ** 2).sum().backward()
    opt.step()
    assert torch.any(lin.weight[~mask] != 0)
