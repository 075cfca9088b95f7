"""Whether a zero activation can skip bytes on a real LM (``eie.llm.actblocks``): perplexity
with the inputs zeroed a block of columns at a time, how often element-wise thresholds leave
whole blocks zero, and perplexity with one codebook per input column beside the source. Quality
only (torch path, dequantized weights): no timing here."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from eie.errors import ConfigError


@dataclass
class BlockRow:
    order: str
    score: str
    block: int
    level: float
    perplexity: float
    realised: float
    """The fraction of Linear input entries zeroed on the evaluated text."""


@dataclass
class BlockReport:
    dense: float
    rows: list[BlockRow] = field(default_factory=list)
    all_zero: dict[str, dict[int, float]] = field(default_factory=dict)
    """By order: block -> the weight-weighted fraction of blocks that element-wise thresholds
    at ``level`` leave all zero on the evaluated text."""


def _linear_names(loaded: Any) -> tuple[list[str], dict[str, Any]]:
    from eie.llm.calibrate import linear_modules

    linears = linear_modules(loaded.model)
    return [n for n in linears if "lm_head" not in n], linears


def blocks(loaded: Any, calib: str, text: str, level: float, block_sizes: Sequence[int],
           orders: Sequence[str], scores: Sequence[str], *, calib_tokens: int = 512,
           ppl_tokens: int = 1024, context: int = 512,
           step: Callable[[str], None] | None = None) -> BlockReport:
    from eie.llm import actblocks
    from eie.llm.evaluate import perplexity

    if loaded.kind != "causal-lm":
        raise ConfigError(f"{loaded.source} is an encoder: block sparsity is measured by "
                          "perplexity (a causal LM)")
    if not block_sizes or any(b < 1 for b in block_sizes):
        raise ConfigError(f"--blocks should be positive integers, found {list(block_sizes)}")
    names, linears = _linear_names(loaded)
    inputs = actblocks.capture_inputs(loaded, calib, names, context, calib_tokens)
    weights = {n: linears[n].weight.detach().float().numpy() for n in names}
    report = BlockReport(perplexity(loaded, text, context, ppl_tokens)["perplexity"])
    for order in orders:
        for score in scores:
            for b in block_sizes:
                rules = actblocks.block_rules(inputs, weights, level, b, order=order, score=score)
                with actblocks.block_sparse_activations(loaded.model, rules) as counts:
                    p = perplexity(loaded, text, context, ppl_tokens)["perplexity"]
                z, t = sum(c[0] for c in counts.values()), sum(c[1] for c in counts.values())
                report.rows.append(BlockRow(order, score, b, level, p, z / t if t else 0.0))
                if step:
                    step(f"{order}/{score}/{b}: {p:.2f}")
    # Element-wise thresholds (block 1, |x|), then how many blocks they leave all zero.
    elem = actblocks.block_rules(inputs, weights, level, 1)
    evaluated = actblocks.capture_inputs(loaded, text, names, context, ppl_tokens)
    size = {n: weights[n].size for n in names}
    total = sum(size[n] for n in evaluated)
    zeros = {n: ~elem[n].keep(x) for n, x in evaluated.items()}
    # the sorted order does not depend on the level or the block: one rule per layer gives it
    by_size = actblocks.block_rules(inputs, weights, level, 1, order="sorted")
    for order in orders:
        report.all_zero[order] = {
            b: sum(size[n] * actblocks.all_zero_blocks(z, b, by_size[n].order
                                                       if order == "sorted" else None)
                   for n, z in zeros.items()) / total if total else 0.0
            for b in block_sizes}
    return report


@dataclass
class ColumnReport:
    source: float
    per_column: float
    bits_per_weight: float
    weight_error: float
    """The median over layers of the relative squared weight error."""


def column_codebooks(loaded: Any, text: str, bits: int = 4, *, ppl_tokens: int = 1024,
                     context: int = 512, threads: int = 0) -> ColumnReport:
    from eie.llm import actblocks
    from eie.llm.evaluate import perplexity

    if loaded.kind != "causal-lm":
        raise ConfigError(f"{loaded.source} is an encoder: this compares perplexities")
    if getattr(loaded, "quantized", None):
        raise ConfigError(f"{loaded.source} is already quantized: give the SOURCE (an HF "
                          "directory or .gguf), not an .eie file")
    names, linears = _linear_names(loaded)
    source = perplexity(loaded, text, context, ppl_tokens)["perplexity"]
    shapes = {n: tuple(linears[n].weight.shape) for n in names}
    errors = actblocks.column_codebooks(loaded, bits, names, threads)
    per_column = perplexity(loaded, text, context, ppl_tokens)["perplexity"]
    return ColumnReport(source, per_column, actblocks.column_codebook_bits(shapes, bits),
                        float(np.median(list(errors.values()))))
