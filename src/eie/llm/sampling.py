"""Choosing the next token from logits: greedy, or sampling with temperature, top-k and top-p.

>>> import numpy as np
>>> s = Sampler(temperature=0.0)
>>> s(np.array([0.1, 2.0, -1.0], np.float32))
1
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from eie.errors import ConfigError


@dataclass
class Sampler:
    """``temperature`` 0 is greedy (argmax; ties to the lowest id, as torch); otherwise softmax of
    ``logits / temperature`` restricted to the ``top_k`` most likely tokens (0: all) and then to
    the smallest set whose probability reaches ``top_p`` (1.0: all), drawn with a numpy generator
    seeded by ``seed`` (the same seed gives the same tokens)."""

    temperature: float = 0.0
    top_k: int = 0
    top_p: float = 1.0
    seed: int = 0
    _rng: np.random.Generator = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not (isinstance(self.temperature, int | float) and 0.0 <= self.temperature <= 100.0):
            raise ConfigError(f"temperature should be in [0, 100], found {self.temperature!r}")
        if isinstance(self.top_k, bool) or not isinstance(self.top_k, int) or self.top_k < 0:
            raise ConfigError(f"top_k should be a non-negative integer, found {self.top_k!r}")
        if not (isinstance(self.top_p, int | float) and 0.0 < self.top_p <= 1.0):
            raise ConfigError(f"top_p should be in (0, 1], found {self.top_p!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"seed should be a non-negative integer, found {self.seed!r}")
        self._rng = np.random.default_rng(self.seed)

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    def __call__(self, logits: npt.NDArray[np.float32]) -> int:
        if self.greedy:
            return int(np.argmax(logits))
        z = logits.astype(np.float64) / self.temperature
        ids = np.arange(z.shape[0])
        if 0 < self.top_k < z.shape[0]:
            ids = np.argpartition(-z, self.top_k - 1)[:self.top_k]
        order = ids[np.argsort(-z[ids], kind="stable")]
        p = np.exp(z[order] - z[order[0]])
        p /= p.sum()
        if self.top_p < 1.0:
            keep = int(np.searchsorted(np.cumsum(p), self.top_p) + 1)
            order, p = order[:keep], p[:keep] / p[:keep].sum()
        return int(order[self._rng.choice(len(order), p=p)])
