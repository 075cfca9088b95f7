"""Shared test configuration: derandomized hypothesis, the shared fixture's location."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", derandomize=True, deadline=None, max_examples=60,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("dev", deadline=None, max_examples=60)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

REPO = Path(__file__).resolve().parents[1]
# The EIE authors' real AlexNet fc8 layer, read from the shared folder beside the repository
# (never copied into it).
FIXTURE = REPO.parent / "shared" / "fixtures" / "eie-simulator-alexnet-fc8"


@pytest.fixture
def fixture_dir() -> Path:
    if not FIXTURE.is_dir():
        pytest.skip(f"shared fixture folder absent: {FIXTURE}")
    return FIXTURE


@pytest.fixture(autouse=True, scope="session")
def _tuning_by_isa() -> Iterator[None]:
    """The suite runs on the tuning table's ISA entries whatever the CPU (``eie.engine.tuning``:
    a measured CPU's own entries override them), so the layouts the tests expect ``"auto"`` to
    pick do not move with the machine; the per-CPU entries have tests of their own."""
    from eie.engine import tuning

    real = tuning.cpu_key
    tuning.cpu_key = lambda: ""
    tuning.reload()
    yield
    tuning.cpu_key = real
    tuning.reload()
