"""The interleaved timing harness: contenders rotate, warm-up calls are dropped, and thread CPU
time leaves out what the thread did not spend on the CPU."""

from __future__ import annotations

import time

import pytest

from eie.bench import machine
from eie.bench.timing import interleaved, interleaved_medians, median_us


def test_contenders_rotate_between_rounds() -> None:
    calls: list[str] = []
    fns = {k: (lambda k=k: calls.append(k)) for k in "abc"}
    t = interleaved(fns, budget_s=0.0, min_reps=6, max_reps=6, rounds=3)
    blocks = [calls[i] for i in range(0, len(calls), 2)]  # two calls per block
    # round 0 in order; round 1 reversed then rotated by one; round 2 rotated by two
    assert blocks == ["a", "b", "c", "b", "a", "c", "c", "a", "b"]
    assert all(v.calls == 6 for v in t.values())


def test_wall_and_thread_cpu_time() -> None:
    def sleep() -> None:
        time.sleep(0.002)

    def spin() -> None:
        end = time.perf_counter() + 0.002
        while time.perf_counter() < end:
            pass

    t = interleaved({"sleep": sleep, "spin": spin}, budget_s=0.0, min_reps=9, max_reps=9)
    assert t["sleep"].wall_us >= 2000 and t["spin"].wall_us >= 2000
    assert t["sleep"].cpu_us < 1000  # asleep, not on the CPU
    assert t["spin"].cpu_us > 500  # on the CPU unless preempted most of the time
    wall, cpu = interleaved_medians({"sleep": sleep}, budget_s=0.0, min_reps=3, max_reps=3)
    assert wall["sleep"] >= 2000 and cpu["sleep"] < 1000
    assert median_us(sleep, budget_s=0.0, min_reps=3, max_reps=3) >= 2000


def test_first_third_of_each_block_is_dropped() -> None:
    n = [0]

    def slow_first() -> None:  # the first call of every block is 20 ms
        n[0] += 1
        time.sleep(0.02 if n[0] % 3 == 1 else 0.0)

    t = interleaved({"x": slow_first}, budget_s=0.0, min_reps=9, max_reps=9, rounds=3)
    assert t["x"].wall_us < 10_000


def test_bad_parameters_raise() -> None:
    with pytest.raises(ValueError, match="rounds"):
        interleaved({"x": lambda: None}, rounds=0)
    assert interleaved({}) == {}


def test_machine_record() -> None:
    m = machine()
    assert m["cpu"] and m["logical_cpus"] >= 1
    assert m["isa"] in ("scalar", "avx2", "avx512")
    assert set(m["cpu_features"]) >= {"avx2", "avx512"}
