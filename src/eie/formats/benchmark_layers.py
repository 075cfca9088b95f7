"""The EIE paper's nine benchmark layers (Table III) and random layers shaped like them.

The table ships with the package (``eie/formats/data/eie_layers.csv``). As the paper did for its
design-space studies, weight and activation sparsity are drawn uniformly at random; weights get a
16-entry codebook (entry 0 = zero). The module sits in ``formats`` (numpy and the core only):
the simulator's sweeps, the CPU engine's benchmarks and ``eie.bench`` all build on these layers,
and imports point downward only.

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
    text = resources.files("eie.formats").joinpath("data/eie_layers.csv").read_text()
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


def random_sparse_codes(rows: int, cols: int, density: float, rng: np.random.Generator,
                        codebook_entries: int = 16
                        ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64],
                                   npt.NDArray[np.uint8]]:
    """The nonzeros of a ``(rows, cols)`` code matrix, each weight nonzero with probability
    ``density`` (as ``random_codes``, drawn sparsely): ``(row, col, code)`` in column-major
    order. The gaps between nonzeros (column-major positions) are geometric."""
    pos, codes = _sparse_positions(rows, cols, density, rng, codebook_entries)
    return pos % rows, pos // rows, codes


def _sparse_positions(rows: int, cols: int, density: float, rng: np.random.Generator,
                      codebook_entries: int = 16
                      ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8]]:
    """``random_sparse_codes``'s draws: increasing column-major positions and their codes."""
    if not 0.0 <= density <= 1.0:
        raise ConfigError(f"density should be in [0, 1], found {density}")
    total = rows * cols
    if density == 0.0 or total == 0:
        pos = np.zeros(0, np.int64)
    elif density == 1.0:
        pos = np.arange(total, dtype=np.int64)
    else:
        mean = total * density
        parts, end = [], -1
        while end < total - 1:
            g = rng.geometric(density, size=int(mean - (end + 1) * density + 6 * mean ** 0.5 + 64))
            p = end + np.cumsum(g)
            parts.append(p)
            end = int(p[-1])
        pos = np.concatenate(parts)
        pos = pos[pos < total]
    codes = rng.integers(1, codebook_entries, size=len(pos), dtype=np.uint8)
    return pos, codes


def _layout(rows: int, cols: int, pos: npt.NDArray[np.int64], values: npt.NDArray[np.uint8],
            num_pes: int, index_bits: int
            ) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8], npt.NDArray[np.int64],
                       npt.NDArray[np.int64]]:
    """EIE's interleaved CSC arrays from the nonzeros' increasing column-major positions (the
    rules of ``eie.formats.eie_matrix.encode``, without a dense matrix; two linear passes in
    the core)."""
    from eie import _core

    pos = np.ascontiguousarray(pos, np.int64)
    col_ptr = np.zeros((num_pes, cols + 1), np.int64)
    pe_offset = np.zeros(num_pes + 1, np.int64)
    total = _core.sim_coo_count(pos, rows, cols, num_pes, index_bits, col_ptr, pe_offset)
    out_codes = np.empty(total, np.uint8)
    out_rel = np.empty(total, np.uint8)
    _core.sim_coo_fill(pos, np.ascontiguousarray(values, np.uint8), rows, cols, index_bits,
                       pe_offset, out_codes, out_rel)
    return out_codes, out_rel, pe_offset, col_ptr


def make_layer(spec: BenchmarkSpec | str, num_pes: int = 64, seed: int = 0, index_bits: int = 4,
               codebook_entries: int = 16
               ) -> tuple[EIEMatrix, npt.NDArray[np.float32]]:
    """A random layer shaped like ``spec`` and an input with the spec's activation density.

    The nonzeros are drawn sparsely (``random_sparse_codes``'s draws) and laid out directly, without a
    dense matrix; the draws do not depend on ``num_pes`` or ``index_bits``, so every layout of
    a (spec, seed) holds the same weights."""
    if isinstance(spec, str):
        spec = get_spec(spec)
    rng = np.random.default_rng(seed)
    codebook = random_codebook(codebook_entries)
    pos, vals = _sparse_positions(spec.rows, spec.cols, spec.weight_density, rng,
                                  codebook_entries)
    x = random_activations(spec.cols, spec.act_density, rng)
    codes, rel, pe_offset, col_ptr = _layout(spec.rows, spec.cols, pos, vals, num_pes,
                                             index_bits)
    wbits = max(4, (codebook_entries - 1).bit_length())
    return EIEMatrix(codes, rel, pe_offset, col_ptr, codebook, (spec.rows, spec.cols), num_pes,
                     index_bits, wbits), x
