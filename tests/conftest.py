"""Shared test configuration: derandomized hypothesis, the shared fixture's location."""

from __future__ import annotations

import os
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
