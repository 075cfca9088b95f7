"""The EIE paper's nine benchmark layers (Table III) and random layers shaped like them.

The table ships with the package (``eie/data/eie_layers.csv``). As the paper did for its
design-space studies, weight and activation sparsity are drawn uniformly at random; weights get a
16-entry codebook (entry 0 = zero).

>>> spec = BENCHMARKS["alex8"]
>>> (spec.rows, spec.cols, spec.weight_density)
(1000, 4096, 0.25)
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from importlib import resources

import numpy as np
import numpy.typing as npt

from eie.errors import ConfigError
from eie.formats.eie_matrix import EIEMatrix


@dataclass(frozen=True)
class BenchmarkSpec:
    """One row of the paper's Table III."""

    name: str
    rows: int
    """Outputs."""
    cols: int
    """Inputs."""
    weight_density: float
    """Fraction of nonzero weights."""
    act_density: float
    """Fraction of nonzero input activations."""
    description: str = ""


def _read_table() -> dict[str, BenchmarkSpec]:
    text = resources.files("eie.data").joinpath("eie_layers.csv").read_text()
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    out = {}
    for row in csv.DictReader(lines):
        spec = BenchmarkSpec(row["name"], int(row["rows"]), int(row["cols"]),
                             float(row["weight_density"]), float(row["act_density"]),
                             row["description"])
        out[spec.name] = spec
    return out


BENCHMARKS: dict[str, BenchmarkSpec] = _read_table()


def get_spec(name: str) -> BenchmarkSpec:
    try:
        return BENCHMARKS[name]
    except KeyError:
        raise ConfigError(f"unknown benchmark layer {name!r}; expected one of "
                          f"{sorted(BENCHMARKS)} or 'all'") from None


def random_codebook(entries: int = 16) -> npt.NDArray[np.float32]:
    """Entry 0 is zero; the rest are distinct nonzero values spread over [-0.1, 0.1]."""
    half = (entries - 1) // 2
    neg = -np.linspace(0.1, 0.01, half)
    pos = np.linspace(0.01, 0.1, entries - 1 - half)
    cb = np.concatenate(([0.0], neg, pos)).astype(np.float32)
    return cb


def random_codes(rows: int, cols: int, density: float, rng: np.random.Generator,
                 codebook_entries: int = 16) -> npt.NDArray[np.uint8]:
    """``(rows, cols)`` codes with each weight nonzero with probability ``density``."""
    if not 0.0 <= density <= 1.0:
        raise ConfigError(f"density should be in [0, 1], found {density}")
    mask = rng.random((rows, cols), dtype=np.float32) < density
    codes = rng.integers(1, codebook_entries, size=(rows, cols), dtype=np.uint8)
    return np.where(mask, codes, np.uint8(0)).astype(np.uint8)


def random_activations(cols: int, density: float, rng: np.random.Generator
                       ) -> npt.NDArray[np.float32]:
    """Non-negative (post-ReLU-like) activations, nonzero with probability ``density``."""
    x = rng.random(cols, dtype=np.float32) + np.float32(0.05)
    return np.where(rng.random(cols) < density, x, np.float32(0)).astype(np.float32)


def make_layer(spec: BenchmarkSpec | str, num_pes: int = 64, seed: int = 0, index_bits: int = 4,
               codebook_entries: int = 16
               ) -> tuple[EIEMatrix, npt.NDArray[np.float32]]:
    """A random layer shaped like ``spec`` and an input with the spec's activation density."""
    if isinstance(spec, str):
        spec = get_spec(spec)
    rng = np.random.default_rng(seed)
    codebook = random_codebook(codebook_entries)
    codes = random_codes(spec.rows, spec.cols, spec.weight_density, rng, codebook_entries)
    x = random_activations(spec.cols, spec.act_density, rng)
    return EIEMatrix.from_codes(codes, codebook, num_pes, index_bits), x
