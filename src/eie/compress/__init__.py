"""Deep Compression of PyTorch models (the only package besides the engine's torch adapter that
imports torch): prune, share weights, fine-tune, Huffman-code, save as ``.eie``.

Public API:

- ``compress(model, recipe, train_fn, eval_fn, checkpoint_dir=None, progress=None)`` ->
  ``CompressionResult`` (``.eie_model``, ``.torch_model``, ``.report``, ``.to_json()``,
  ``.save(path)``), in ``eie.compress.pipeline``;
- recipes: ``Recipe``, ``PruneStage``, ``QuantizeStage``, ``HuffmanStage``, ``load_recipe``
  (``eie.compress.recipe``); the paper's: ``eie.compress.paper.lenet300_recipe(quick=False)``;
- pruning methods, one config each (``eie.compress.prune_methods``): ``MagnitudePruning``,
  ``NMPruning``, ``BlockPruning``, ``BalancedPruning`` (``PruneStage(method=NMPruning(2, 4))``);
- models and data: ``eie.compress.models.LeNet300`` / ``LeNet5``,
  ``eie.compress.data.mnist_split(seed=0)``,
  ``eie.compress.train.train_reference(name, seed, epochs=None, cache_dir=None)``;
- building blocks: ``prune`` (masks, ``MaskEnforcer``), ``kmeans`` (Lloyd, exact DP),
  ``share`` (weight sharing, centroid fine-tuning), ``sensitivity`` (per-layer scan).

Huffman coding lives in ``eie.formats.huffman`` (numpy only: it is a storage concern).
"""

from eie.compress.pipeline import CompressionResult, ProgressEvent, StageReport, compress
from eie.compress.prune_methods import BalancedPruning, BlockPruning, MagnitudePruning, NMPruning
from eie.compress.recipe import (
                                 HuffmanStage,
                                 PruneLayer,
                                 PruneStage,
                                 QuantizeLayer,
                                 QuantizeStage,
                                 Recipe,
                                 load_recipe,
)

__all__ = ["BalancedPruning", "BlockPruning", "CompressionResult", "HuffmanStage",
           "MagnitudePruning", "NMPruning", "ProgressEvent", "PruneLayer", "PruneStage",
           "QuantizeLayer", "QuantizeStage", "Recipe", "StageReport", "compress", "load_recipe"]
