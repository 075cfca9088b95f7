"""Bundled English sample text for tests and demos: the prose of this project's own README and
docs (code blocks, tables, headings and list markers removed), split by paragraph into two
disjoint halves, ``sample_calib.txt`` (calibration) and ``sample_eval.txt`` (held out), and the
held-out half cut into sentences, ``sample_sentences.txt`` (one per line, >= 6 words)."""

from __future__ import annotations

from pathlib import Path

SAMPLES = ("sample_calib.txt", "sample_eval.txt", "sample_sentences.txt")


def sample_path(name: str) -> Path:
    if name not in SAMPLES:
        raise KeyError(f"no bundled sample {name!r}; samples are {SAMPLES}")
    return Path(__file__).with_name(name)
