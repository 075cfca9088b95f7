"""The examples in the simulator's docstrings run and print what they say."""

from __future__ import annotations

import doctest
import importlib

import pytest


@pytest.mark.parametrize("name", ["config", "ccu", "energy", "area", "tables", "sweep", "simulate",
                                  "bias", "qformat", "dram", "text_table",
                                  "llm_layers"])
def test_module_examples(name: str) -> None:
    module = importlib.import_module(f"eie.sim.{name}")
    failures, tried = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert tried > 0 and failures == 0
