"""Activation sparsity at a granularity the memory system sees, and per-input-column codebooks:
the two ways a zero input could skip *bytes* of 4-bit weights rather than arithmetic.

A rowwise layout streams every row's codes whatever the input; a zero input entry saves bytes
only when a whole run of codes goes unread. Two ways to get such runs:

- **blocks of input columns**: zero a Linear input ``K`` columns at a time (per token, the blocks
  whose score ``sum_j c_j x_j^2`` is below a per-layer threshold, ``c_j`` = 1 or the squared norm
  of weight column ``j``), so that a block-major layout skips ``K`` columns of every row at once;
  the columns may first be put in a static order (most-often-small first) so that blocks hold
  columns alike;
- **one codebook per input column**: a column-major layout then reads each column's codes
  (``rows / 2`` bytes, contiguous) only when its input is non-zero, and decodes the whole column
  with one 16-entry table, where per-row codebooks need a different table for every element.

``block_rules`` / ``block_sparse_activations`` measure the first (torch forward pre-hooks, like
``eie.llm.actsparsity``); ``all_zero_blocks`` counts how often element-wise thresholds happen
to leave whole blocks zero; ``column_codebooks`` quantizes a model's Linear layers the second
way. Results: docs/llm.md, "Activation sparsity in blocks, and per-column codebooks".
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from eie.errors import ConfigError

F32 = npt.NDArray[np.float32]
ORDERS = ("natural", "sorted")
SCORES = ("abs", "wina")


@dataclass(frozen=True)
class BlockRule:
    """One Linear's block rule: ``order`` (cols,) the static column order, ``weight`` (cols,) the
    score weight of each column in that order, ``threshold`` on the block score, ``block`` the
    columns per block (the trailing ``cols % block`` columns are never zeroed)."""

    order: npt.NDArray[np.int64]
    weight: F32
    threshold: float
    block: int

    def keep(self, x: F32) -> npt.NDArray[np.bool_]:
        """(n, cols) bool: the entries of ``x`` (n, cols), in the original column order, kept."""
        n, cols = x.shape
        whole = cols // self.block * self.block
        xs = x[:, self.order]
        score = (xs[:, :whole] ** 2 * self.weight[:whole]).reshape(n, -1, self.block).sum(2)
        keep_sorted = np.ones((n, cols), bool)
        keep_sorted[:, :whole] = np.repeat(score >= self.threshold, self.block, axis=1)
        keep = np.empty_like(keep_sorted)
        keep[:, self.order] = keep_sorted
        return keep


def _check(level: float, block: int, order: str, score: str) -> None:
    if not 0.0 <= level < 1.0:
        raise ConfigError(f"the block sparsity level should be in [0, 1), found {level}")
    if block < 1:
        raise ConfigError(f"the block should be >= 1 columns, found {block}")
    if order not in ORDERS:
        raise ConfigError(f"the column order should be one of {', '.join(ORDERS)}, found {order}")
    if score not in SCORES:
        raise ConfigError(f"the block score should be one of {', '.join(SCORES)}, found {score}")


def block_rules(inputs: Mapping[str, np.ndarray], weights: Mapping[str, np.ndarray],
                level: float, block: int, *, order: str = "natural", score: str = "abs"
                ) -> dict[str, BlockRule]:
    """Per-layer rules zeroing a fraction ``level`` of the blocks of calibration inputs
    ``inputs[name]`` (n, cols); ``weights[name]`` (rows, cols) the layer's weight (for ``wina``
    scores and the ``sorted`` order: columns by decreasing mean ``|x_j| * ||W[:, j]||``)."""
    _check(level, block, order, score)
    rules = {}
    for name, x in inputs.items():
        x = np.asarray(x, np.float32)
        w = np.asarray(weights[name], np.float32)
        if x.ndim != 2 or w.ndim != 2 or x.shape[1] != w.shape[1] or not len(x):
            raise ConfigError(f"{name}: inputs {x.shape} do not match the weight {w.shape}")
        col = (w.astype(np.float64) ** 2).sum(0).astype(np.float32) if score == "wina" else \
            np.ones(x.shape[1], np.float32)
        perm = (np.argsort(-(np.abs(x) * np.sqrt(col)).mean(0), kind="stable")
                if order == "sorted" else np.arange(x.shape[1]))
        whole = x.shape[1] // block * block
        if whole == 0:
            continue
        s = (x[:, perm][:, :whole] ** 2 * col[perm][:whole]).reshape(len(x), -1, block).sum(2)
        t = float(np.quantile(s, level)) if level > 0 else 0.0
        rules[name] = BlockRule(perm.astype(np.int64), col[perm], t, block)
    return rules


@contextmanager
def block_sparse_activations(model: Any, rules: Mapping[str, BlockRule]
                             ) -> Iterator[dict[str, list[int]]]:
    """Within the block, each Linear with a rule has its input's low-score blocks zeroed; yields
    ``{name: [zeroed, total]}`` entry counts (the realised sparsity)."""
    import torch

    from eie.llm.calibrate import linear_modules

    linears = linear_modules(model)
    counts: dict[str, list[int]] = {n: [0, 0] for n in rules if n in linears}

    def hook(name: str, rule: BlockRule) -> Any:
        def fn(_m: Any, inputs: tuple[Any, ...]) -> tuple[Any, ...]:
            x = inputs[0]
            flat = x.detach().reshape(-1, x.shape[-1]).float().numpy()
            keep = torch.from_numpy(rule.keep(flat)).reshape(x.shape)
            c = counts[name]
            c[0] += int((~keep).sum())
            c[1] += keep.numel()
            return (x * keep, *inputs[1:])
        return fn

    handles = [linears[n].register_forward_pre_hook(hook(n, r)) for n, r in rules.items()
               if n in linears and r.threshold > 0]
    try:
        yield counts
    finally:
        for h in handles:
            h.remove()


def all_zero_blocks(zero: np.ndarray, block: int, order: np.ndarray | None = None) -> float:
    """The fraction of ``block``-column blocks of ``zero`` (n, cols) bool, in ``order``, that are
    all True (the trailing ``cols % block`` columns are left out)."""
    z = np.asarray(zero, bool)
    if order is not None:
        z = z[:, order]
    whole = z.shape[1] // block * block
    if whole == 0 or not len(z):
        return 0.0
    return float(z[:, :whole].reshape(len(z), -1, block).all(2).mean())


def capture_inputs(loaded: Any, text: str, names: list[str], context: int, max_tokens: int
                   ) -> dict[str, F32]:
    """Every named Linear's inputs (tokens, cols) float32 over ``text`` (consecutive windows)."""
    import torch

    from eie.llm.calibrate import linear_modules, token_windows

    linears = linear_modules(loaded.model)
    store: dict[str, list[F32]] = {n: [] for n in names}

    def grab(name: str) -> Any:
        def fn(_m: Any, a: tuple[Any, ...]) -> None:
            store[name].append(a[0].detach().reshape(-1, a[0].shape[-1]).float().numpy().copy())
        return fn

    handles = [linears[n].register_forward_pre_hook(grab(n)) for n in names]
    try:
        with torch.no_grad():
            for w in token_windows(loaded.tokenizer, text, context, max_tokens):
                loaded.model(input_ids=torch.tensor([w]))
    finally:
        for h in handles:
            h.remove()
    return {n: np.concatenate(v) for n, v in store.items() if v}


def column_codebooks(loaded: Any, bits: int = 4, names: list[str] | None = None,
                     threads: int = 0) -> dict[str, float]:
    """Replace each Linear weight (all but the LM head unless ``names`` says) by its quantization
    with one ``2**bits``-entry fp16 codebook per input column (exact unweighted 1-D k-means of the
    column: within a column every entry meets the same input, so E[x^2] weighting is a constant
    there). Returns each layer's relative squared weight error."""
    import torch

    from eie.llm.calibrate import linear_modules
    from eie.llm.schemes import quantize_codebook

    linears = linear_modules(loaded.model)
    chosen = names if names is not None else [n for n in linears if "lm_head" not in n]
    errors = {}
    for n in chosen:
        w = linears[n].weight.detach().float().numpy()
        q = quantize_codebook(np.ascontiguousarray(w.T), bits, threads=threads)
        assert q.codes is not None and q.tables is not None
        deq = np.take_along_axis(q.tables, q.codes.astype(np.int64), 1).T
        errors[n] = float(((deq - w) ** 2).sum() / max((w.astype(np.float64) ** 2).sum(), 1e-30))
        with torch.no_grad():
            linears[n].weight.copy_(torch.from_numpy(np.ascontiguousarray(deq)))
    return errors


def column_codebook_bits(shapes: Mapping[str, tuple[int, int]], bits: int = 4) -> float:
    """Bits per weight of per-column codebooks: ``bits`` per code plus ``2**bits`` fp16 entries
    per input column."""
    total = sum(r * c for r, c in shapes.values())
    if total == 0:
        return 0.0
    return sum(r * c * bits + c * (1 << bits) * 16 for r, c in shapes.values()) / total
