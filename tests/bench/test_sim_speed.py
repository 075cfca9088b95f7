"""The simulator's speed benchmark: timed through ``eie.bench.timing``, its records agree with
``simulate`` and its table's totals add up."""

from __future__ import annotations

import pytest

from eie.bench import sim_speed
from eie.cli.bench_scripts import main
from eie.engine.fixed_point import FixedPointFormat
from eie.formats.benchmark_layers import make_layer
from eie.report.bench_tables import sim_cli_lines, sim_speed_table
from eie.sim import HardwareConfig, simulate


def test_suite_records_match_simulate() -> None:
    rows = sim_speed.measure_suite(num_pes=16, repeats=1, layers=("alex8", "nt_we"))
    assert [r["name"] for r in rows] == ["alex8", "nt_we"]
    m, x = make_layer("alex8", num_pes=16, seed=0)
    ref = simulate(m, x, config=HardwareConfig(num_pes=16),
                   fmt=FixedPointFormat(act_frac_bits=12, weight_frac_bits=15), name="alex8")
    assert rows[0]["pe_cycles"] == ref.pe_cycles and rows[0]["cycles"] == ref.cycles
    assert all(0 < r["loop_cpu_s"] and 0 < r["loop_s"] <= r["simulate_s"] * 10 for r in rows)
    total = sim_speed_table(rows).splitlines()[-1]
    assert total.startswith(f"total: {rows[0]['pe_cycles'] + rows[1]['pe_cycles']:,} PE-cycles")


def test_cli_lines() -> None:
    text = sim_cli_lines({"this": [(1.0, 0.5), (3.0, 1.5)], "baseline": [(4.0, 2.0)]})
    assert text.splitlines() == [
        "this     wall median 2.00 s (min 1.00), CPU median 1.00 s (min 0.50)",
        "baseline wall median 4.00 s (min 4.00), CPU median 2.00 s (min 2.00)",
        "baseline / this: wall 2.00x, CPU 2.00x"]


def test_command_refuses_bad_counts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim-speed", "--repeats", "0"]) == 2
    assert capsys.readouterr().err.startswith("sim-speed: error: --repeats and --pes")
