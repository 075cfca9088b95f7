"""Benchmark harness tests: one torch and engine thread (the test machines are small and shared)
and a private cache, as in the compression tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _small_threads(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
                   ) -> Iterator[None]:
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    monkeypatch.setenv("EIE_NUM_THREADS", "1")
    monkeypatch.setenv("EIE_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "eie-cache"))
    yield
