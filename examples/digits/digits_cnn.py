"""A small CNN for scikit-learn's 8x8 digits: the bring-your-own-model example of the README.

``python examples/digits/digits_cnn.py OUT_DIR`` writes ``OUT_DIR/digits.npz`` (arrays
``x_train``, ``y_train``, ``x_val``, ``y_val``; inputs ``(N, 1, 8, 8)`` in [0, 1]) and
``OUT_DIR/digits_cnn.pt`` (the trained state_dict, seconds on a CPU), then::

    PYTHONPATH=examples/digits eie compress OUT_DIR/digits_cnn.pt --arch digits_cnn:DigitsCNN \\
        --data OUT_DIR/digits.npz --recipe examples/digits/recipe.yaml -o digits.eie
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn


class DigitsCNN(nn.Module):
    """conv 8x3x3 (pad 1) -> ReLU -> max-pool 2 -> conv 16x3x3 (pad 1) -> ReLU -> max-pool 2 ->
    flatten (64) -> fc 10."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.fc = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.max_pool2d(torch.relu(self.conv1(x)), 2)  # (N, 8, 4, 4)
        x = torch.max_pool2d(torch.relu(self.conv2(x)), 2)  # (N, 16, 2, 2)
        return self.fc(torch.flatten(x, 1))


def make_data(out: Path) -> Path:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()  # 1,797 images, pixel values 0..16
    x = (d.images / 16.0).astype(np.float32)[:, None]  # (N, 1, 8, 8)
    x_tr, x_val, y_tr, y_val = train_test_split(x, d.target.astype(np.int64), test_size=0.25,
                                                stratify=d.target, random_state=0)
    path = out / "digits.npz"
    np.savez(path, x_train=x_tr, y_train=y_tr, x_val=x_val, y_val=y_val)
    return path


def train(data: Path, out: Path, epochs: int = 8) -> Path:
    from eie.compress.train import train_epochs

    f = np.load(data)
    torch.set_num_threads(1)  # a tiny model: more threads only contend
    torch.manual_seed(0)
    model = DigitsCNN()
    train_epochs(model, torch.from_numpy(f["x_train"]), torch.from_numpy(f["y_train"]), epochs,
                 3e-3, seed=0)
    path = out / "digits_cnn.pt"
    torch.save(model.state_dict(), path)
    return path


if __name__ == "__main__":
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    folder.mkdir(parents=True, exist_ok=True)
    print(train(make_data(folder), folder))
