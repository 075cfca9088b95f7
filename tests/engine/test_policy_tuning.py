"""Tuning constants in one table (eie/data/tuning.json), read once by eie.engine.tuning, handed
to the core and followed by it; eie bench --tune measures the measured ones."""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from eie import _core
from eie.bench import tune
from eie.engine import isa_check, kernels, layout, spmv, tuning
from eie.errors import ConfigError
from eie.formats import EIEMatrix

ROOT = Path(__file__).resolve().parents[2]
CB = np.array([0.0, 1.0], np.float32)


@pytest.fixture
def table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A copy of the shipped table named by EIE_TUNING, without its per-CPU entries (so the
    ``isas`` entries edited here decide on any CPU); the shipped one is back afterwards."""
    out = tmp_path / "tuning.json"
    data = json.loads(tuning.TABLE_PATH.read_text())
    data.pop("cpus", None)
    out.write_text(json.dumps(data))
    monkeypatch.setenv("EIE_TUNING", str(out))
    tuning.reload()
    yield out
    monkeypatch.delenv("EIE_TUNING")
    tuning.reload()
    tuning.constants("scalar")  # hands the shipped constants back to the core


def edit(path: Path, section: str, **values: object) -> None:
    data = json.loads(path.read_text())
    target = data["defaults"] if section == "defaults" else data["isas"][section]
    target.update(values)
    path.write_text(json.dumps(data))
    tuning.reload()


def test_the_shipped_table_has_every_constant_and_the_core_holds_it() -> None:
    data = json.loads(tuning.TABLE_PATH.read_text())
    assert set(data["defaults"]) == set(tuning.CONSTANTS)
    assert data["defaults"] == tuning.BUILTIN
    isa_check.engine_isa()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tuning, "cpu_key", tuning._cpu_key)  # this CPU, as outside the suite
        tuning.reload()
        for isa in ("scalar", "avx2", "avx512"):
            c = tuning.constants(isa)
            assert set(c) == set(tuning.CONSTANTS)
            assert _core.tuning(isa) == {k: c[k] for k in tuning.CORE_KEYS}
        mine = data.get("cpus", {}).get(tuning.cpu_key(), {})
        for isa in kernels.available_isas():
            entry = {**data["isas"][isa], **mine.get(isa, {})}
            assert entry["dense_crossover_4bit"] == tuning.crossover(isa, 16)
    tuning.reload()


def test_no_tuning_constant_left_in_the_driver() -> None:
    """The driver's thresholds come from the table: no numeric constexpr of the ones the table
    holds is left in layout.cpp / layout.h."""
    text = (ROOT / "csrc/engine/layout.cpp").read_text() + (ROOT / "csrc/engine/layout.h").read_text()
    for name in ("kInlineWork", "kMinSplitRows", "kRowViewMaxRows", "g_row_view_min_act"):
        assert name not in text
    assert not re.search(r"\b(2\.4|3\.7|1\.6)\b", text.split("loop_beats_batch", 2)[1][:400])


def test_the_core_follows_the_table(table: Path) -> None:
    isa = kernels.active_isa_name()
    codes = np.ones((2048, 128), np.uint8)
    assert layout.build(codes, CB, "dense", threads=2).row_blocks == [0, 1024, 2048]
    edit(table, isa, min_split_rows=2048)
    assert _core.tuning(isa)["min_split_rows"] == 2048
    assert tuning.constants(isa)["min_split_rows"] == 2048
    assert layout.build(codes, CB, "dense", threads=2).row_blocks == [0, 2048]
    # the defaults apply where the ISA's entry says nothing
    edit(table, "defaults", row_view_min_act=0.25)
    assert _core.tuning(isa)["row_view_min_act"] == 0.25
    assert _core.row_view_min_act() == 0.25


def test_the_crossover_moves_the_layout_choice(table: Path) -> None:
    isa = kernels.active_isa_name()
    rng = np.random.default_rng(0)
    codes = np.where(rng.random((64, 64)) < 0.3, 1, 0).astype(np.uint8)
    m = EIEMatrix.from_codes(codes, CB, num_pes=4)
    edit(table, isa, dense_crossover_4bit=0.9)
    assert layout.from_matrix(m).kind == "sparse"
    edit(table, isa, dense_crossover_4bit=0.1)
    assert layout.from_matrix(m).kind == "dense"
    x = np.ones(64, np.float32)
    np.testing.assert_allclose(spmv(m, x), codes.sum(axis=1))


@pytest.mark.parametrize(("section", "key", "value", "message"), [
    ("defaults", "inline_work", -1.0, "defaults.inline_work should be a number in"),
    ("defaults", "min_split_rows", 10.5, "should be an integer in"),
    ("defaults", "min_split_rows", True, "should be an integer in"),
    ("defaults", "no_such_constant", 1, "is not a tuning constant"),
    ("avx2", "row_view_min_act", float("nan"), "should be a number in"),
    ("avx2", "dense_crossover_8bit", 1.5, "should be a density in"),
])
def test_bad_tables_are_refused_with_one_line(table: Path, section: str, key: str,
                                              value: object, message: str) -> None:
    edit(table, section, **{key: value})
    with pytest.raises(ConfigError, match=message) as e:
        tuning.constants("avx2")
    assert "\n" not in str(e.value)


def test_the_core_refuses_bad_constants() -> None:
    with pytest.raises(ValueError, match="unknown tuning constant 'x'"):
        _core.set_tuning("avx2", {"x": 1})
    with pytest.raises(ValueError, match="min_split_rows should be in"):
        _core.set_tuning("avx2", {"min_split_rows": 1})
    with pytest.raises(ValueError, match="should be an integer"):
        _core.set_tuning("avx2", {"rowwise_tasks_per_thread": 2.5})
    with pytest.raises(ValueError, match="unknown ISA"):
        _core.set_tuning("neon", {})


def test_measure_covers_every_measured_constant() -> None:
    isa = kernels.active_isa_name()
    entry = tune.measure(isa, quick=True, budget_s=0.005)
    for key in tuning.MEASURED:
        assert key in entry and entry[key] >= 0, key
        assert entry["ratios"][key], key
    assert 0 <= entry["dense_crossover_4bit"] <= 1


def test_cpu_key_names_vendor_family_model() -> None:
    assert tuning.cpu_key() == "" or re.fullmatch(r"\w+/\d+/\d+", tuning.cpu_key())


def test_a_cpu_entry_overrides_the_isa_fallback_on_that_cpu_only(table: Path) -> None:
    isa = kernels.active_isa_name()
    data = json.loads(table.read_text())
    fallback = data["isas"][isa]["dense_crossover_4bit"]
    data["cpus"] = {"Vendor/1/2": {isa: {"dense_crossover_4bit": 0.037, "sparse_batch_factor": 7.5,
                                         "ratios": {"kept": ["as written"]}}},
                    "Vendor/1/3": {isa: {"dense_crossover_4bit": 0.9}}}
    table.write_text(json.dumps(data))
    rng = np.random.default_rng(1)
    m = EIEMatrix.from_codes(np.where(rng.random((64, 64)) < 0.05, 1, 0).astype(np.uint8), CB,
                             num_pes=4)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tuning, "cpu_key", lambda: "Vendor/1/2")
        tuning.reload()
        assert tuning.crossover(isa, 16) == 0.037
        assert _core.tuning(isa)["sparse_batch_factor"] == 7.5
        assert layout.from_matrix(m).kind == "dense"  # 5% weights: dense on this CPU
        mp.setattr(tuning, "cpu_key", lambda: "Other/9/9")
        tuning.reload()
        assert tuning.crossover(isa, 16) == fallback
        assert _core.tuning(isa)["sparse_batch_factor"] == \
            tuning.constants(isa)["sparse_batch_factor"] != 7.5
    tuning.reload()  # this CPU's constants back in the core


@pytest.mark.parametrize(("cpus", "message"), [
    ([], "cpus should be an object"),
    ({"V/1/2": 3}, "cpus.V/1/2 should be an object"),
    ({"V/1/2": {"avx2": {"dense_crossover_4bit": -0.5}}}, "cpus.V/1/2.avx2.dense_crossover_4bit "
                                                          "should be a density in"),
    ({"V/1/2": {"avx2": {"min_split_rows": 3}}}, "should be an integer in"),
])
def test_bad_cpu_entries_are_refused_with_one_line(table: Path, cpus: object,
                                                   message: str) -> None:
    data = json.loads(table.read_text())
    data["cpus"] = cpus
    table.write_text(json.dumps(data))
    tuning.reload()
    with pytest.raises(ConfigError, match=re.escape(message)) as e:
        tuning.constants("avx2")
    assert "\n" not in str(e.value)


def test_write_adds_the_cpu_entry_and_keeps_the_fallbacks(table: Path) -> None:
    before = json.loads(table.read_text())
    measured = {"avx2": {"dense_crossover_4bit": 0.3, "dense_crossover_8bit": 0.6}}
    tuning.write(table, measured, "eie bench --tune", "Some CPU", key="Vendor/7/8")
    after = json.loads(table.read_text())
    assert after["isas"] == before["isas"] and after["defaults"] == before["defaults"]
    entry = after["cpus"]["Vendor/7/8"]["avx2"]
    assert (entry["dense_crossover_4bit"], entry["cpu"]) == (0.3, "Some CPU")
    # a second CPU joins the first; a CPU without a key replaces the fallback
    tuning.write(table, measured, "eie bench --tune", "Another", key="Vendor/7/9")
    tuning.write(table, {"avx2": {"dense_crossover_4bit": 0.4, "dense_crossover_8bit": 0.5}},
                 "eie bench --tune", "Unknown", key="")
    after = json.loads(table.read_text())
    assert set(after["cpus"]) == {"Vendor/7/8", "Vendor/7/9"}
    assert after["isas"]["avx2"]["dense_crossover_4bit"] == 0.4
    assert after["isas"]["avx512"] == before["isas"]["avx512"]


def test_spmv_takes_the_rowwise_layout_for_dense_batches_where_tuned(table: Path) -> None:
    """rowwise_batch_min_act: a batch of mostly nonzero inputs on a dense 4-bit layer runs on its
    rowwise layout (built beside the dense one), sparse inputs and batch 1 stay dense; the
    default (above 1) never switches."""
    isa = kernels.active_isa_name()
    spmv_module = importlib.import_module("eie.engine.spmv")
    rng = np.random.default_rng(4)
    cb = np.linspace(-1, 1, 16).astype(np.float32)
    cb[0] = 0.0
    codes = rng.integers(0, 16, (96, 200)).astype(np.uint8)
    dense_x = rng.standard_normal((8, 200)).astype(np.float32)
    sparse_x = np.where(rng.random((8, 200)) < 0.3, dense_x, 0.0).astype(np.float32)
    want = {}
    for x in (dense_x, sparse_x):
        want[id(x)] = (cb[codes] @ x.T).T
    m = EIEMatrix.from_codes(codes, cb, num_pes=4)
    np.testing.assert_allclose(spmv(m, dense_x), want[id(dense_x)], rtol=1e-5, atol=1e-4)
    assert "rowwise" not in spmv_module._cache[m]  # the shipped default: never
    edit(table, isa, rowwise_batch_min_act=0.6)
    m = EIEMatrix.from_codes(codes, cb, num_pes=4)
    assert spmv_module.prepared(m).kind == "dense"
    for x in (sparse_x, dense_x[0]):
        spmv(m, x)
        assert "rowwise" not in spmv_module._cache[m]
    y = spmv(m, dense_x)
    rowwise = spmv_module._cache[m]["rowwise"]
    np.testing.assert_array_equal(y, kernels.matmul(rowwise, dense_x, threads=1))
    np.testing.assert_allclose(y, want[id(dense_x)], rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(spmv(m, sparse_x), want[id(sparse_x)], rtol=1e-5, atol=1e-4)
    edit(table, isa, rowwise_batch_min_act=-1.0)
    with pytest.raises(ConfigError, match="rowwise_batch_min_act should be a number in"):
        tuning.constants(isa)


def test_a_pruned_layer_keeps_its_batch_twin_for_dense_batches(table: Path) -> None:
    """rowwise_batch_min_act leaves a dense layout holding a batch twin to that twin."""
    isa = kernels.active_isa_name()
    spmv_module = importlib.import_module("eie.engine.spmv")
    edit(table, isa, rowwise_batch_min_act=0.1, dense_crossover_4bit=0.1)
    rng = np.random.default_rng(5)
    codes = np.where(rng.random((600, 500)) < 0.25, rng.integers(1, 16, (600, 500)), 0)
    m = EIEMatrix.from_codes(codes.astype(np.uint8), np.linspace(0, 1, 16, dtype=np.float32),
                             num_pes=4)
    x = rng.standard_normal((16, 500)).astype(np.float32)
    assert spmv_module.chosen_layout(m, x).has_batch_twin
    spmv(m, x)
    assert "rowwise" not in spmv_module._cache[m]


def test_the_zero_skipping_break_even_comes_from_the_table(table: Path) -> None:
    """zero_skip_min_level: where the LLM runtime moves a thresholded Linear to the zero-skipping
    layout, per ISA (and per CPU in the shipped table: never on a Zen 4 with AVX-512, 0.25 on the Xeon)."""
    from eie.llm.engine_linear import zero_skip_min_level

    isa = kernels.active_isa_name()
    shipped = json.loads(tuning.TABLE_PATH.read_text())
    assert shipped["isas"]["avx512"]["zero_skip_min_level"] == 0.25
    assert shipped["cpus"]["AuthenticAMD/25/17"]["avx512"]["zero_skip_min_level"] == 2.0
    edit(table, isa, zero_skip_min_level=0.33)
    assert zero_skip_min_level(isa) == 0.33
    edit(table, isa, zero_skip_min_level=5.0)  # above 1: never
    assert zero_skip_min_level(isa) == 5.0
    edit(table, isa, zero_skip_min_level="high")
    with pytest.raises(ConfigError, match="zero_skip_min_level should be a number in"):
        zero_skip_min_level(isa)
