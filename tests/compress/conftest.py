"""Shared fixtures for the compression tests: one torch thread (the test machines are small and
shared), and a private cache so no test reads or writes the user's ``~/.cache/eie``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def _small_torch(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
                 ) -> Iterator[None]:
    torch.set_num_threads(1)
    monkeypatch.setenv("EIE_NUM_THREADS", "1")  # xdist runs two workers on two cores
    monkeypatch.setenv("EIE_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "eie-cache"))
    yield
