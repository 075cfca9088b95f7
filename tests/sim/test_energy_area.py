"""Energy = counts x table; the default table reproduces the paper's Table II; area model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from simtest_helpers import matrix_from_pe_rows

from eie.errors import ConfigError
from eie.sim import HardwareConfig, breakdown, load_energy_table, power_breakdown, simulate
from eie.sim.energy import MODULES, by_module, energy_pj
from eie.sim.pe import ACTIONS


def dummy_table(tmp_path: Path, skip: tuple[str, str] | None = None) -> Path:
    comps: dict[str, dict[str, dict[str, object]]] = {}
    keys = [*ACTIONS, ("pe", "cycle"), ("lnzd_node", "cycle")]
    for i, (c, a) in enumerate(keys):
        if (c, a) != skip:
            comps.setdefault(c, {})[a] = {"energy_pj": float(2 ** i), "source": "test"}
    p = tmp_path / "t.yaml"
    p.write_text(yaml.safe_dump({"name": "dummy", "version": 7, "components": comps}))
    return p


def test_energy_is_counts_times_table(tmp_path: Path) -> None:
    table = load_energy_table(dummy_table(tmp_path))
    m = matrix_from_pe_rows(8, 4, 2, {(0, 0): [0, 1], (1, 2): [3], (1, 3): [0, 2]})
    x = np.array([1.0, 0.0, 2.0, -1.0], np.float32)
    r = simulate(m, x, config=HardwareConfig(num_pes=2), energy_table=table)
    keys = [*ACTIONS, ("pe", "cycle"), ("lnzd_node", "cycle")]
    # Powers of two make every count visible in the sum.
    expected = sum(r.actions[k] * 2.0 ** i for i, k in enumerate(keys))
    assert r.energy_pj == expected
    assert r.energy_table == "dummy v7"
    assert sum(r.energy_by_module().values()) == pytest.approx(expected)
    assert r.to_json()["energy_pj"] == expected
    assert set(r.actions) == set(keys)


def test_missing_price_raises(tmp_path: Path) -> None:
    table = load_energy_table(dummy_table(tmp_path, skip=("arith", "mac")))
    m = matrix_from_pe_rows(2, 1, 1, {(0, 0): [0]})
    with pytest.raises(ConfigError, match=r"no price for \('arith', 'mac'\)"):
        simulate(m, np.ones(1, np.float32), config=HardwareConfig(num_pes=1), energy_table=table)
    with pytest.raises(ConfigError):
        energy_pj({("nothing", "here"): 1}, table)


def test_table_entries_need_a_source(tmp_path: Path) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump({"name": "x", "version": 1,
                                 "components": {"arith": {"mac": {"energy_pj": 1.0}}}}))
    with pytest.raises(ConfigError, match="source"):
        load_energy_table(p)


def test_default_table_has_sources_and_reproduces_table_ii() -> None:
    t = load_energy_table()
    assert t.version == 1 and all(e.source for e in t.entries.values())
    p = power_breakdown()
    mw = p["pe_modules_mw"]
    # Table II: 9.157 mW per PE; clock network 1.874 mW; modules keep 79.53% of their power.
    assert p["pe_total_mw"] == pytest.approx(9.157, abs=2e-3)
    assert mw["clock network"] == pytest.approx(1.874, rel=1e-4)
    keep = 1 - 1.874 / 9.157
    for name, paper in [("sparse-matrix read", 4.955), ("pointer read", 1.807),
                        ("arithmetic unit", 1.162), ("activation read/write", 1.122),
                        ("activation queue", 0.112)]:
        assert mw[name] == pytest.approx(paper * keep, rel=1e-3), name
    assert p["chip_total_mw"] == pytest.approx(590.0, abs=0.2)
    assert p["lnzd_mw"] == pytest.approx(21 * 0.023)


def test_spmat_line_energy_scales_with_width() -> None:
    t = load_energy_table()
    e64 = t.price("spmat_sram", "read_line", HardwareConfig())
    e512 = t.price("spmat_sram", "read_line", HardwareConfig(spmat_sram_width_bits=512))
    e32 = t.price("spmat_sram", "read_line", HardwareConfig(spmat_sram_width_bits=32))
    assert e64 == pytest.approx(39.4095)
    assert e512 == pytest.approx(39.4095 * (0.35 + 0.65 * 8))
    assert e32 == pytest.approx(39.4095 * (0.35 + 0.65 / 2))


def test_by_module_groups_components() -> None:
    out = by_module({("arith", "mac"): 2.0, ("codebook", "lookup"): 1.0, ("ccu", "broadcast"): 5.0,
                     ("pe", "cycle"): 3.0})
    assert out == {"arithmetic unit": 3.0, "central control unit": 5.0, "clock network": 3.0}
    assert "sparse-matrix read" in MODULES


def test_area_default_is_table_ii() -> None:
    b = breakdown()
    assert b.pe_total_um2 == pytest.approx(638_024.0)
    assert b.pe_modules_um2["sparse-matrix read"] == pytest.approx(469_412.0)
    assert b.chip_mm2 == pytest.approx((64 * 638_024 + 21 * 189) * 1e-6)
    assert b.chip_mm2 == pytest.approx(40.8, abs=0.05)
    assert sum(pct for _, _, pct in b.rows()) == pytest.approx(100.0)


def test_area_scales_with_sram_and_fifo() -> None:
    base = breakdown()
    half = breakdown(HardwareConfig(spmat_sram_kb=64, fifo_depth=16, num_pes=256))
    assert half.pe_modules_um2["sparse-matrix read"] == pytest.approx(469_412.0 / 2)
    assert half.pe_modules_um2["activation queue"] == pytest.approx(758.0 * 2)
    assert half.pe_modules_um2["arithmetic unit"] == base.pe_modules_um2["arithmetic unit"]
    assert half.pe_total_um2 < base.pe_total_um2
    assert half.lnzd_um2 == (64 + 16 + 4 + 1) * 189.0


def test_table_ii_rows_and_chip() -> None:
    from eie.sim.tables import chip_summary, table_ii

    rows = {r["module"]: r for r in table_ii()}
    assert rows["sparse-matrix read"]["area_um2"] == pytest.approx(469_412.0)
    assert rows["sparse-matrix read"]["area_percent"] == pytest.approx(73.57, abs=0.01)
    assert rows["clock network"]["power_mw"] == pytest.approx(1.874, rel=1e-4)
    assert rows["clock network"]["area_um2"] is None
    assert rows["filler cell"]["power_mw"] is None
    total = rows["total (one PE)"]
    assert total["power_mw"] == pytest.approx(9.157, abs=2e-3)
    module_power = sum(r["power_mw"] for r in rows.values()
                       if r["power_mw"] is not None and r is not total)
    assert module_power == pytest.approx(total["power_mw"])
    chip = chip_summary()
    assert chip["peak_gops"] == pytest.approx(102.4)
    assert chip["power_mw"] == pytest.approx(590.0, abs=0.2)
    assert chip["area_mm2"] == pytest.approx(40.8, abs=0.05)
