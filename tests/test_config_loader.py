"""eie._config: the one strict loader behind recipes, hardware configs, energy and area tables."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from eie._config import (
    Boolean,
    Integer,
    Number,
    check_fields,
    field_rules,
    from_mapping,
    loader,
    read_mapping,
    rule,
)
from eie.errors import ConfigError


@dataclass(frozen=True)
class Port:
    width_bits: int = field(default=8, metadata=rule(Integer(1, 64)))
    enabled: bool = field(default=True, metadata=rule(Boolean()))

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass(frozen=True)
class Chip:
    name: str
    clock_mhz: float = field(default=800.0, metadata=rule(Number(0, 1000.0)))
    ports: Mapping[str, Port] = field(default_factory=dict, metadata=loader(
        lambda v, where: {k: from_mapping(Port, p, f"{where} port {k!r}") for k, p in v.items()}))

    def __post_init__(self) -> None:
        check_fields(self)


def test_nested_configs_load_through_their_loaders() -> None:
    chip = from_mapping(Chip, {"name": "c", "ports": {"a": {"width_bits": 16}}}, "chip.yaml")
    assert chip == Chip("c", ports={"a": Port(16)})


@pytest.mark.parametrize(("data", "match"), [
    ({"name": "c", "clok_mhz": 1}, r"^chip\.yaml: unknown key\(s\) \['clok_mhz'\] for Chip; "
                                   r"expected some of \['clock_mhz', 'name', 'ports'\]"),
    ({}, r"^chip\.yaml: key\(s\) \['name'\] missing for Chip$"),
    ([1, 2], r"^chip\.yaml: expected a mapping of Chip fields, found list$"),
    ({"name": "c", "ports": {"a": {"width": 2}}},
     r"^chip\.yaml port 'a': unknown key\(s\) \['width'\] for Port"),
    ({"name": "c", "ports": {"a": {"width_bits": 65}}},
     r"^chip\.yaml port 'a': width_bits should be at most 64, found 65$"),
    ({"name": "c", "ports": {"a": {"width_bits": True}}},
     r"width_bits should be an integer >= 1, found True"),
    ({"name": "c", "ports": {"a": {"enabled": 1}}}, r"enabled should be true or false, found 1"),
    ({"name": "c", "clock_mhz": float("nan")},
     r"^chip\.yaml: clock_mhz should be a finite number in \(0, 1000\], found nan$"),
    ({"name": "c", "clock_mhz": 0}, r"clock_mhz should be a finite number in \(0, 1000\]"),
])
def test_errors_are_one_line_and_name_the_place_and_key(data: Any, match: str) -> None:
    with pytest.raises(ConfigError, match=match) as e:
        from_mapping(Chip, data, "chip.yaml")
    assert "\n" not in str(e.value)


def test_inclusive_and_open_number_bounds() -> None:
    Number(0.0, lo_inclusive=True).check("x", 0)
    with pytest.raises(ConfigError, match=r"x should be a finite number in \[0, inf\), found -1"):
        Number(0.0, lo_inclusive=True).check("x", -1)
    with pytest.raises(ConfigError, match=r"in \(0, inf\)"):
        Number(0.0).check("x", 0.0)
    assert field_rules(Port) == {"width_bits": Integer(1, 64), "enabled": Boolean()}


def test_read_mapping(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("x: 1\n")
    (tmp_path / "a.toml").write_text("x = 2\n")
    (tmp_path / "empty.yaml").write_text("")
    assert read_mapping(tmp_path / "a.yaml", "thing") == {"x": 1}
    assert read_mapping(tmp_path / "a.toml", "thing") == {"x": 2}
    assert read_mapping(tmp_path / "empty.yaml", "thing") == {}
    with pytest.raises(ConfigError, match=r"missing\.yaml: no such thing file$"):
        read_mapping(tmp_path / "missing.yaml", "thing")
    with pytest.raises(ConfigError, match=r"things files should end in \.yaml or \.toml$"):
        read_mapping(tmp_path / "a.json", "things", suffixes=(".yaml", ".toml"))
    (tmp_path / "list.yaml").write_text("- 1\n")
    with pytest.raises(ConfigError, match="a thing should be a mapping of key: value, found list"):
        read_mapping(tmp_path / "list.yaml", "thing")
    (tmp_path / "bad.yaml").write_text("x: [\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: cannot parse the thing: ") as e:
        read_mapping(tmp_path / "bad.yaml", "thing")
    assert "\n" not in str(e.value)


def test_every_hardware_config_field_declares_its_rule() -> None:
    from eie.sim import HardwareConfig
    from eie.sim.config import BOUNDS

    rules = field_rules(HardwareConfig)
    assert set(rules) == {f.name for f in dataclasses.fields(HardwareConfig)}
    assert {n for n, r in rules.items() if isinstance(r, Boolean)} == {
        "arith_bypass", "bias_column", "stream_pointers"}
    assert {n for n, r in rules.items() if isinstance(r, Number)} == {"clock_mhz", "dram_gbps"}
    assert BOUNDS["num_pes"] == (1, 4096) and BOUNDS["clock_mhz"] == (0, 100_000.0)


def test_load_reports_the_keys_the_mapping_set(tmp_path: Path) -> None:
    """``load`` / ``read_config`` say which fields a mapping set (the rest are defaults), so a
    command can let a model file decide the others; ``type`` / ``version`` are not fields, and
    a version-1 file also sets the fields whose meaning changed."""
    from eie._config import load
    from eie.sim.config import HardwareConfig, read_config

    got = load(HardwareConfig, {"num_pes": 16, "fifo_depth": 8}, "x")
    assert got.keys == {"num_pes", "fifo_depth"} and got.value.num_pes == 16
    assert load(HardwareConfig, {}, "x").keys == frozenset()
    (tmp_path / "hw.yaml").write_text("type: eie.sim.HardwareConfig\nversion: 2\nnum_pes: 32\n")
    assert read_config(tmp_path / "hw.yaml").keys == {"num_pes"}
    (tmp_path / "v1.yaml").write_text("version: 1\nfifo_depth: 4\n")
    v1 = read_config(tmp_path / "v1.yaml")
    assert v1.keys == {"fifo_depth", "bias_column", "lnzd_group_bubble"}
    assert v1.value.fifo_depth == 5


def test_simulate_options_name_the_fields_they_set(tmp_path: Path) -> None:
    from eie.cli.main import build_parser
    from eie.cli.simulate_cmd import configure

    (tmp_path / "hw.yaml").write_text("num_pes: 16\nclock_mhz: 1000\n")
    args = build_parser().parse_args(["simulate", "m.eie", "--config", str(tmp_path / "hw.yaml"),
                                      "--set", "index_bits=5", "--fifo", "4"])
    config, explicit = configure(args)
    assert explicit == {"num_pes", "clock_mhz", "index_bits", "fifo_depth"}
    assert (config.num_pes, config.index_bits, config.fifo_depth) == (16, 5, 4)
    config, explicit = configure(build_parser().parse_args(["simulate", "m.eie"]))
    assert explicit == set()
