"""Recipes: strict loading from dicts, YAML and TOML; validation errors name the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from eie.compress.paper import lenet5_recipe, lenet300_recipe
from eie.compress.recipe import (
    HuffmanStage,
    PruneLayer,
    PruneStage,
    QuantizeStage,
    Recipe,
    load_recipe,
)
from eie.errors import ConfigError

YAML = """\
name: demo
num_pes: 4
index_bits: 5
seed: 3
stages:
  - kind: prune
    method: magnitude
    density: 0.1
    rounds: 2
    epochs: 1
    layers:
      fc3: {density: 0.3}
      fc1: {skip: true}
  - kind: quantize
    bits: 5
    init: density
    layers:
      fc2: {bits: 3}
  - kind: huffman
"""

TOML = """\
name = "demo"
num_pes = 4
index_bits = 5
seed = 3

[[stages]]
kind = "prune"
method = "magnitude"
density = 0.1
rounds = 2
epochs = 1
[stages.layers.fc3]
density = 0.3
[stages.layers.fc1]
skip = true

[[stages]]
kind = "quantize"
bits = 5
init = "density"
[stages.layers.fc2]
bits = 3

[[stages]]
kind = "huffman"
"""


def test_yaml_and_toml_give_the_same_recipe(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(YAML)
    (tmp_path / "r.toml").write_text(TOML)
    a, b = load_recipe(tmp_path / "r.yaml"), load_recipe(tmp_path / "r.toml")
    assert a == b
    assert a.num_pes == 4 and a.seed == 3
    p = a.stages[0]
    assert isinstance(p, PruneStage) and p.layers["fc3"] == PruneLayer(density=0.3)
    assert p.layers["fc1"].skip
    q = a.stages[1]
    assert isinstance(q, QuantizeStage) and q.init == "density" and q.layers["fc2"].bits == 3
    assert isinstance(a.stages[2], HuffmanStage)
    assert Recipe.from_dict(a.to_dict()) == a


@pytest.mark.parametrize(("data", "match"), [
    ({"stages": [{"kind": "huffman"}], "speed": 1}, r"unknown key\(s\) \['speed'\]"),
    ({"stages": [{"kind": "prune", "density": 0.1, "densty": 0.2}]}, "densty"),
    ({"stages": [{"kind": "prune", "density": 0.1, "layers": {"fc1": {"bits": 4}}}]},
     "bits.*PruneLayer"),
    ({"stages": [{"kind": "squeeze"}]}, "kind one of"),
    ({"stages": []}, "at least one stage"),
    ({"stages": [{"kind": "prune", "density": 1.5}]}, r"density should be in \(0, 1\]"),
    ({"stages": [{"kind": "prune"}]}, "needs a density"),
    ({"stages": [{"kind": "quantize", "bits": 9}]}, "bits should be in 2..8"),
    ({"stages": [{"kind": "quantize", "init": "zeros"}]}, "init should be one of"),
    ({"stages": [{"kind": "huffman"}]}, "needs a quantize stage"),
    ({"stages": [{"kind": "quantize"}, {"kind": "prune", "density": 0.5}]}, "before the quant"),
    ({"stages": [{"kind": "quantize"}], "num_pes": 0}, "num_pes"),
    ({"stages": [{"kind": "prune", "method": "nm", "n": 5, "m": 4}]}, "N:M"),
    ({"stages": [{"kind": "prune", "density": 0.1, "scope": "global", "method": "block"}]},
     r"unknown key\(s\) \['scope'\] for a 'block' prune stage"),
    ({"stages": [{"kind": "prune", "density": 0.1, "n": 2}]},
     r"unknown key\(s\) \['n'\] for a 'magnitude' prune stage"),
    ({"stages": [{"kind": "prune", "method": "sparsegpt", "density": 0.1}]},
     "prune method should be one of"),
    ({"stages": [{"kind": "prune", "density": 0.1, "scope": "everywhere"}]},
     "prune scope should be one of"),
    ({"stages": [{"kind": "prune", "method": "block", "density": 0.1, "block_rows": 0}]},
     "block sizes"),
    ({"stages": [{"kind": "prune", "method": "nm", "layers": {"fc1": {"quality": 1.0}}}]},
     "only applies to method 'magnitude'"),
    ({"stages": "prune"}, "kind one of"),
])
def test_validation_errors(data: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        Recipe.from_dict(data)


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such recipe"):
        load_recipe(tmp_path / "missing.yaml")
    (tmp_path / "r.json").write_text("{}")
    with pytest.raises(ConfigError, match=r"\.yaml, \.yml or \.toml"):
        load_recipe(tmp_path / "r.json")
    (tmp_path / "bad.yaml").write_text("stages: [\n")
    with pytest.raises(ConfigError, match="cannot parse"):
        load_recipe(tmp_path / "bad.yaml")
    (tmp_path / "bad2.yaml").write_text("stages:\n  - kind: prune\n    density: 0.1\n    x: 1\n")
    with pytest.raises(ConfigError, match=r"bad2\.yaml: stage 0.*'x'"):
        load_recipe(tmp_path / "bad2.yaml")


def test_paper_recipes_round_trip() -> None:
    for r in (lenet300_recipe(), lenet300_recipe(quick=True), lenet5_recipe()):
        assert Recipe.from_dict(r.to_dict()) == r
    r = lenet300_recipe()
    assert r.num_pes == 1 and r.index_bits == 5
    p = r.stages[0]
    assert isinstance(p, PruneStage)
    assert (p.density, p.layers["fc2"].density, p.layers["fc3"].density) == (0.08, 0.09, 0.26)


def test_sparsity_is_the_fraction_removed() -> None:
    from eie.compress.recipe import PruneLayer, PruneStage, Recipe

    s = PruneStage(sparsity=0.9, layers={"fc3": PruneLayer(sparsity=0.25)})
    assert s.density == pytest.approx(0.1) and s.layers["fc3"].density == pytest.approx(0.75)
    r = Recipe.from_dict({"stages": [{"kind": "prune", "sparsity": 0.8}]})
    assert r.stages[0].density == pytest.approx(0.2)
    assert Recipe.from_dict(r.to_dict()).stages[0].density == pytest.approx(0.2)  # round trip
    with pytest.raises(ConfigError, match="not both"):
        PruneStage(density=0.1, sparsity=0.9)
    with pytest.raises(ConfigError, match=r"sparsity should be in \[0, 1\)"):
        PruneStage(sparsity=1.0)


def test_polynomial_schedule_and_quantize_skip() -> None:
    from eie.compress.prune import iterative_densities, polynomial_densities
    from eie.compress.recipe import QuantizeLayer, QuantizeStage, Recipe

    poly = polynomial_densities(0.1, 4)
    geo = iterative_densities(0.1, 4)
    assert poly[-1] == pytest.approx(0.1) and geo[-1] == pytest.approx(0.1)
    assert poly[0] < geo[0]  # polynomial decay prunes most of the weights early
    # TF-MOT's formula: sparsity_t = s_f + (s_i - s_f) * (1 - t/n)^3 with s_i = 0, s_f = 0.9.
    assert poly[1] == pytest.approx(1 - (0.9 - 0.9 * 0.5 ** 3))
    r = Recipe.from_dict({"stages": [{"kind": "prune", "density": 0.1, "rounds": 3,
                                      "schedule": "polynomial", "power": 2},
                                     {"kind": "quantize", "layers": {"fc3": {"skip": True}}}]})
    assert r.stages[0].schedule == "polynomial" and r.stages[0].power == 2
    assert r.stages[1].layers["fc3"] == QuantizeLayer(skip=True)
    with pytest.raises(ConfigError, match="schedule should be one of"):
        Recipe.from_dict({"stages": [{"kind": "prune", "density": 0.1, "schedule": "cubic"}]})
    assert QuantizeStage().layers == {}


def test_each_prune_method_is_a_config_with_a_handler() -> None:
    import torch

    from eie.compress.prune_methods import (
        PRUNE_METHODS,
        BalancedPruning,
        BlockPruning,
        MagnitudePruning,
        NMPruning,
        PruneRound,
        prune_masks,
    )

    r = Recipe.from_dict({"stages": [{"kind": "prune", "method": "nm", "n": 1, "m": 4}]})
    stage = r.stages[0]
    assert isinstance(stage, PruneStage) and stage.method == NMPruning(n=1, m=4)
    flat = stage.to_dict()
    assert (flat["method"], flat["n"], flat["m"]) == ("nm", 1, 4)
    assert "block_rows" not in flat and "quality" not in flat  # only the method's own fields
    assert Recipe.from_dict(r.to_dict()) == r
    assert PruneStage(density=0.5).method == MagnitudePruning()

    w = torch.arange(1.0, 65.0).reshape(8, 8) * torch.tensor([1.0, -1.0]).repeat(32).reshape(8, 8)
    rnd = PruneRound(weights={"fc": w}, density=lambda n: 0.5, qualities={"fc": None},
                     global_density=lambda: 0.25, num_pes=2)
    kept = {name: float(prune_masks(cls(), rnd)["fc"].float().mean())
            for name, cls in PRUNE_METHODS.items()}
    assert kept == {"magnitude": 0.5, "nm": 0.5, "block": 0.5, "balanced": 0.5}
    # The largest magnitudes survive; blocks go whole; every PE slice keeps the same count.
    assert bool(prune_masks(MagnitudePruning(), rnd)["fc"][7].all())
    blocks = prune_masks(BlockPruning(), rnd)["fc"].reshape(2, 4, 2, 4).float().mean((1, 3))
    assert set(blocks.flatten().tolist()) == {0.0, 1.0}
    bal = prune_masks(BalancedPruning(num_pes=4), rnd)["fc"]
    assert [int(bal[p::4].sum()) for p in range(4)] == [8, 8, 8, 8]
    assert float(prune_masks(MagnitudePruning(scope="global"), rnd)["fc"].float().mean()) == 0.25
