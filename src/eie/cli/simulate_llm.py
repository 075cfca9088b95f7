"""``eie simulate MODEL.eie`` on a quantized transformer file written by ``eie quantize``: its
Linear layers, each on its own input, through ``eie.sim.llm_layers`` (one codebook per layer;
per-row and per-group codebooks are refused in one line).

- **Hardware**: the options given, else the paper's design, except the codebook: unless
  ``--set weight_bits`` / ``codebook_entries`` say otherwise, it holds the widest layer's table
  plus the zero code (a 4-bit table: 17 entries, so 5-bit weights and 32 entries).
- **Layers**: every quantized Linear layer, or ``--layer NAME``; the layers do not chain (a
  transformer block is not a sequence of matrix-vector products), so each is simulated alone.
- **Input**: ``--input X.npy`` (with ``--layer``), else a seeded normal input per layer
  (``SAMPLE_SEED``; dense and signed, like the LayerNorm outputs most of them read).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from eie.errors import ConfigError

SAMPLE_SEED = 0


def is_llm_file(path: Path) -> bool:
    from eie.llm.modelfile import is_model_file

    return path.is_file() and is_model_file(path)


def _quantized(path: Path) -> dict[str, Any]:
    """The file's quantized Linear layers (name -> QuantizedWeight), validated on load."""
    from eie.llm import modelfile

    try:
        loaded = modelfile.load(path)
    except ImportError as e:
        raise ConfigError(f"reading a transformer file needs the llm extra "
                          f"(pip install 'eie[llm]'): {e}") from None
    return dict(loaded.quantized)


def sample_input(cols: int, seed: int = SAMPLE_SEED) -> npt.NDArray[np.float32]:
    return np.random.default_rng(seed).normal(size=cols).astype(np.float32)


def simulate_llm_file(path: Path, config: Any, explicit: set[str], layer: str | None,
                      input_path: Path | None, energy_table: Any = None,
                      formats: str | None = None) -> tuple[list[dict[str, Any]], dict[str, str],
                                                           Any]:
    """(one record per layer, where each codebook field came from, the config used)."""
    from eie.sim import simulate
    from eie.sim.llm_layers import refusal, to_eie_matrix

    q = _quantized(path)
    if layer is not None and layer not in q:
        raise ConfigError(f"no quantized Linear layer named {layer!r}; the file's are "
                          f"{list(q)[:6]}{' ...' if len(q) > 6 else ''}")
    names = [layer] if layer is not None else list(q)
    for n in names:  # refuse before any work, naming the first layer that cannot run
        why = refusal(n, q[n])
        if why is not None:
            raise ConfigError(why)
    entries = max((1 << q[n].bits) + 1 for n in names)
    wbits = (entries - 1).bit_length()
    want = {"weight_bits": wbits, "codebook_entries": 1 << wbits}
    changes = {k: v for k, v in want.items() if k not in explicit}
    if "weight_bits" in explicit:
        changes.pop("codebook_entries", None)
    origin = {k: ("the file's codebooks plus the zero code" if k in changes else "your options")
              for k in want}
    config = config.replace(**changes) if changes else config
    if input_path is not None and layer is None:
        raise ConfigError("--input with a transformer file needs --layer NAME (the layers do "
                          "not chain)")
    records = []
    for n in names:
        m = to_eie_matrix(n, q[n], config.num_pes, config.index_bits)
        if input_path is not None:
            try:
                x = np.asarray(np.load(input_path), np.float32)
            except (OSError, ValueError) as e:
                raise ConfigError(f"cannot read input activations {input_path}: {e}") from None
            note = str(input_path)
        else:
            x = sample_input(m.cols)
            note = f"a seeded normal input (seed {SAMPLE_SEED}, {m.cols} values, dense, signed)"
        r = simulate(m, x, config=config, energy_table=energy_table, name=n, fmt=formats)
        rec = r.to_json()
        rec["input"] = note
        rec["codebook"] = (f"one {1 << q[n].bits}-entry table for the layer "
                           f"({len(m.codebook)} hardware entries with the zero code)")
        records.append(rec)
    return records, origin, config
