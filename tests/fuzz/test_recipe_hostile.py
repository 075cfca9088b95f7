"""A recipe file someone sent is hostile input too: any field of a valid recipe given a hostile
value (the fuzzer's list: huge, negative, infinite, NaN, strings, lists, objects), one to three
at a time, gives a Recipe or a ConfigError. Before, a non-list ``stages``, a non-mapping
``layers`` or an unhashable ``kind`` raised TypeError / AttributeError."""

from __future__ import annotations

import copy
import random
from collections import Counter
from pathlib import Path

import mutate
import pytest

from eie.compress.recipe import Recipe, load_recipe
from eie.errors import ConfigError

BASE = {"name": "x", "num_pes": 4, "index_bits": 4, "seed": 1, "stages": [
    {"kind": "prune", "density": 0.1, "epochs": 1, "lr": 0.01, "rounds": 2,
     "layers": {"fc1": {"density": 0.2}}},
    {"kind": "quantize", "bits": 4, "epochs": 1, "layers": {"fc1": {"bits": 5}}},
    {"kind": "huffman"}]}


def test_hostile_values_anywhere_give_a_config_error() -> None:
    Recipe.from_dict(BASE)
    rng = random.Random(20261202)
    seen: Counter[str] = Counter()
    for _ in range(3000):
        d = copy.deepcopy(BASE)
        for _ in range(rng.randint(1, 3)):
            path = rng.choice(mutate._paths(d))
            mutate._parent(d, path)[path[-1]] = copy.deepcopy(rng.choice(mutate.HOSTILE))
        try:
            Recipe.from_dict(d)
            seen["ok"] += 1
        except ConfigError:
            seen["refused"] += 1
    assert seen["refused"] > 2000 and seen["ok"] > 0


@pytest.mark.parametrize(("data", "match"), [
    ({"stages": 3}, "stages should be a list"),
    ({"stages": [{"kind": {"a": 1}}]}, "kind one of"),
    ({"stages": [{"kind": "quantize", "layers": [1, 2]}]}, "layers should map layer names"),
    ({"stages": [{"kind": "prune", "density": 0.5, "layers": 4.0}]}, "layers should map"),
])
def test_the_shapes_that_raised_untyped_errors(data: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        Recipe.from_dict(data)


def test_from_a_file(tmp_path: Path) -> None:
    p = tmp_path / "r.yaml"
    p.write_text("stages: 7\n")
    with pytest.raises(ConfigError, match="r.yaml: stages should be a list"):
        load_recipe(p)
