"""The sourced area and energy tables: the packaged area table reproduces Table II and the former
hard-coded scaling exactly; a malformed table is refused naming the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from eie.errors import ConfigError
from eie.sim import HardwareConfig, breakdown, load_energy_table
from eie.sim.area import SCALES, load_area_table
from eie.sim.ccu import lnzd_nodes

PACKAGED = Path(__file__).resolve().parents[2] / "src" / "eie" / "sim" / "data" / "area_45nm.yaml"
# Table II, one PE at 45 nm (um^2): the numbers the model was first written with.
TABLE_II = {"activation queue": 758.0, "pointer read": 121_849.0,
            "sparse-matrix read": 469_412.0, "arithmetic unit": 3_110.0,
            "activation read/write": 18_934.0}


def hand_model(c: HardwareConfig) -> tuple[dict[str, float], float]:
    """Table II scaled by hand: (per-PE modules, chip mm^2)."""
    act = (c.act_sram_bytes * 8 + 2 * c.act_regfile_entries * c.act_bits) / (2048 * 8 + 2 * 64 * 16)
    scale = {"activation queue": c.fifo_depth / 8, "pointer read": c.ptr_sram_kb / 32,
             "sparse-matrix read": c.spmat_sram_kb / 128, "arithmetic unit": 1.0,
             "activation read/write": act}
    modules = {k: v * scale[k] for k, v in TABLE_II.items()}
    placed = sum(modules.values())
    pe = placed + placed * 23_961.0 / sum(TABLE_II.values())
    return modules, (c.num_pes * pe + lnzd_nodes(c.num_pes, c.lnzd_fanin) * 189.0) * 1e-6


@pytest.mark.parametrize("changes", [
    {}, {"spmat_sram_kb": 64, "fifo_depth": 16, "num_pes": 256},
    {"ptr_sram_kb": 8, "act_sram_bytes": 4096, "act_regfile_entries": 32, "lnzd_fanin": 2},
])
def test_packaged_table_gives_the_hand_model_exactly(changes: dict[str, int]) -> None:
    c = HardwareConfig(**changes)  # type: ignore[arg-type]
    modules, chip = hand_model(c)
    b = breakdown(c)
    assert b.pe_modules_um2 == modules
    assert b.chip_mm2 == chip


def test_packaged_table_is_sourced_and_referenced_at_the_paper_design() -> None:
    t = load_area_table()
    assert (t.name, t.version, t.pe_total_um2) == ("eie-45nm-table2", 1, 638_024.0)
    assert {k: e.area_um2 for k, e in t.pe_modules.items()} == TABLE_II
    paper = HardwareConfig()
    for name, e in t.pe_modules.items():
        assert e.source.strip(), name
        if e.scales_with is not None:  # each area was reported at the paper's sizes
            assert e.reference == SCALES[e.scales_with](paper), name
    assert t.module("arithmetic unit").scales_with is None
    assert (t.filler.area_um2, t.lnzd_node.area_um2) == (23_961.0, 189.0)
    with pytest.raises(ConfigError, match="no module 'cache'"):
        t.module("cache")


def _edited(tmp_path: Path, edit) -> Path:  # type: ignore[no-untyped-def]
    data = yaml.safe_load(PACKAGED.read_text())
    edit(data)
    p = tmp_path / "area.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


@pytest.mark.parametrize(("edit", "match"), [
    (lambda d: d["pe_modules"]["pointer read"].pop("source"),
     r"area\.yaml: pe_modules\.pointer read: key\(s\) \['source'\] missing"),
    (lambda d: d["pe_modules"]["pointer read"].update(scales_with="ptr_bits"),
     "scales_with should be one of"),
    (lambda d: d["pe_modules"]["arithmetic unit"].update(area_um2=-1.0),
     r"area_um2 should be a finite number in \[0, inf\)"),
    (lambda d: d.update(pe_total_um2=600_000.0), "add up to 638024"),
    (lambda d: d["filler"].update(colour="grey"),
     r"area\.yaml: filler: unknown key\(s\) \['colour'\]"),
    (lambda d: d.update(modules={}), r"unknown key\(s\) \['modules'\] for AreaTable"),
    (lambda d: d.pop("lnzd_node"), r"key\(s\) \['lnzd_node'\] missing for AreaTable"),
])
def test_malformed_tables_are_refused(tmp_path: Path, edit, match: str  # type: ignore[no-untyped-def]
                                      ) -> None:
    with pytest.raises(ConfigError, match=match):
        load_area_table(_edited(tmp_path, edit))


def test_a_table_of_the_same_layout_prices_the_config(tmp_path: Path) -> None:
    p = _edited(tmp_path, lambda d: (d["pe_modules"]["arithmetic unit"].update(area_um2=4110.0),
                                     d.update(pe_total_um2=639_024.0)))
    b = breakdown(HardwareConfig(), load_area_table(p))
    assert b.pe_modules_um2["arithmetic unit"] == 4110.0
    assert b.pe_total_um2 == pytest.approx(639_024.0)  # at its reference sizes: its own total


ENERGY = PACKAGED.with_name("energy_45nm.yaml")


@pytest.mark.parametrize(("edit", "match"), [
    (lambda d: d.update(author="x"), r"e\.yaml: unknown key\(s\) \['author'\] for _EnergyFile"),
    (lambda d: d.pop("version"), r"key\(s\) \['version'\] missing"),
    (lambda d: d["components"]["arith"]["mac"].update(energy_pj="1 pJ"),
     r"e\.yaml: arith\.mac: energy_pj should be a finite number in \[0, inf\)"),
    (lambda d: d["components"]["spmat_sram"]["read_line"].update(width_field="line_bits"),
     "width_field should name a HardwareConfig field, found 'line_bits'"),
    (lambda d: d["components"]["spmat_sram"]["read_line"].pop("reference_width_bits"),
     "reference_width_bits and width_field go together"),
    (lambda d: d["components"]["arith"]["mac"].update(source="  "), "source should be a non-empty"),
])
def test_malformed_energy_tables_are_refused(tmp_path: Path, edit, match: str  # type: ignore[no-untyped-def]
                                             ) -> None:
    data = yaml.safe_load(ENERGY.read_text())
    edit(data)
    p = tmp_path / "e.yaml"
    p.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=match):
        load_energy_table(p)


def test_packaged_energy_table_loads_from_its_file() -> None:
    assert load_energy_table(ENERGY) == load_energy_table()
