"""HardwareConfig validation, YAML round trip and the LNZD tree."""

from __future__ import annotations

from pathlib import Path

import pytest

from eie.errors import ConfigError
from eie.sim import HardwareConfig, load_config, save_config
from eie.sim.ccu import lnzd_levels, lnzd_nodes, lnzd_nodes_per_level
from eie.sim.pe import fill_drain_cycles


@pytest.mark.parametrize(("changes", "match"), [
    ({"num_pes": 0}, "num_pes should be an integer >= 1, found 0"),
    ({"fifo_depth": 0}, "fifo_depth"),
    ({"index_bits": 0}, "index_bits"),
    ({"index_bits": 9}, "<= 8"),
    ({"num_pes": 2.5}, "num_pes"),
    ({"num_pes": True}, "num_pes"),
    ({"clock_mhz": 0}, "clock_mhz"),
    ({"ptr_banks": 3}, "ptr_banks"),
    ({"spmat_sram_width_bits": 4}, "spmat_sram_width_bits"),
    ({"codebook_entries": 17}, "codebook_entries"),
    ({"act_bits": 8}, "act_bits"),
    ({"arith_bypass": 1}, "arith_bypass"),
])
def test_invalid_configs_raise_config_error(changes: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        HardwareConfig(**changes)  # type: ignore[arg-type]


def test_unknown_key_raises() -> None:
    with pytest.raises(ConfigError, match=r"hardware config: unknown key\(s\) \['pes'\]"):
        HardwareConfig.from_dict({"pes": 4})
    with pytest.raises(ConfigError):
        HardwareConfig().replace(fifo=3)


def test_yaml_round_trip(tmp_path: Path) -> None:
    cfg = HardwareConfig(num_pes=16, fifo_depth=4, clock_mhz=1200.0, arith_bypass=False)
    p = tmp_path / "hw.yaml"
    save_config(cfg, p)
    assert load_config(p) == cfg
    (tmp_path / "partial.yaml").write_text("num_pes: 8\nfifo_depth: 2\n")
    assert load_config(tmp_path / "partial.yaml") == HardwareConfig(num_pes=8, fifo_depth=2)
    (tmp_path / "bad.yaml").write_text("num_pes: 8\nwhatever: 1\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: unknown key\(s\) \['whatever'\]"):
        load_config(tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(tmp_path / "list.yaml")


def test_derived_values() -> None:
    c = HardwareConfig()
    assert c.entries_per_line == 8 and c.ptr_read_cycles == 1
    assert c.batch_cols == 4096 and c.batch_load_cycles == 16
    assert c.cycle_ns == pytest.approx(1.25)
    assert fill_drain_cycles(c) == 5
    assert HardwareConfig(index_bits=2, spmat_sram_width_bits=64).entries_per_line == 10


def test_lnzd_tree() -> None:
    assert lnzd_nodes_per_level(64) == [16, 4, 1]
    assert lnzd_nodes(64) == 21 and lnzd_levels(64) == 3
    assert lnzd_nodes_per_level(256) == [64, 16, 4, 1]
    assert lnzd_nodes_per_level(5) == [2, 1]
    assert lnzd_nodes(1) == 1 and lnzd_levels(4) == 1
    with pytest.raises(ConfigError):
        lnzd_nodes(0)


def test_version_1_configs_mean_the_same_hardware(tmp_path: Path) -> None:
    # Version 1 counted only the queue beside the head, added the bias for free, had no bubble.
    old = HardwareConfig.from_dict({"type": "eie.sim.HardwareConfig", "version": 1,
                                    "fifo_depth": 8, "num_pes": 16})
    assert old == HardwareConfig(num_pes=16, fifo_depth=9, bias_column=False,
                                 lnzd_group_bubble=0)
    assert HardwareConfig.from_dict({"version": 1}).fifo_depth == 9  # the old default, 8
    (tmp_path / "v1.yaml").write_text("version: 1\nfifo_depth: 1\n")
    assert load_config(tmp_path / "v1.yaml").fifo_depth == 2
    with pytest.raises(ConfigError, match="config version should be 1 or 2, found 3"):
        HardwareConfig.from_dict({"version": 3})
    assert HardwareConfig().to_json()["version"] == 2
