"""``eie sweep`` on a real ``dask.distributed.LocalCluster`` of worker processes (loopback only):
one worker is killed mid-sweep; nothing finished is lost and the rest completes."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import Any

import pytest

from eie.sim.sweep import read_results, sweep

distributed = pytest.importorskip("distributed")

AXES = {"fifo_depth": [1, 2, 3, 4, 6, 8, 12, 16, 32, 64]}


def test_sweep_survives_a_killed_worker(tmp_path: Path) -> None:
    out = tmp_path / "sweep.jsonl"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address="127.0.0.1:0") as cluster, \
            distributed.Client(cluster) as client:
        pids: dict[str, int] = client.run(os.getpid)
        assert len(pids) == 2
        victim = sorted(pids.values())[0]
        killed = threading.Event()
        seen_before_kill: list[str] = []

        def tick(done: int, total: int, rec: dict[str, Any]) -> None:
            if not killed.is_set():
                seen_before_kill.append(rec["key"])
                os.kill(victim, signal.SIGKILL)  # mid-sweep: the other points are in flight
                killed.set()

        result: dict[str, Any] = {}

        def go() -> None:
            try:
                result["records"] = sweep(AXES, ["alex8", "nt_lstm"], out,
                                          scheduler=cluster.scheduler_address, progress=tick)
            except BaseException as e:  # surfaced below
                result["error"] = e

        t = threading.Thread(target=go)
        t.start()
        t.join(240)
        assert not t.is_alive(), "the Dask sweep did not finish within 240 s"
        assert "error" not in result, result.get("error")
    assert killed.is_set()
    records = result["records"]
    assert len(records) == 2 * len(AXES["fifo_depth"])
    on_disk = read_results(out)
    keys = [r["key"] for r in on_disk]
    assert len(keys) == len(set(keys)) == len(records)  # every point once, none lost
    assert set(seen_before_kill) <= set(keys)
    # The same points as a local run (the simulator is deterministic).
    local = sweep({"fifo_depth": [8]}, ["alex8"], tmp_path / "local.jsonl", workers=1)[0]
    remote = next(r for r in records if r["layer"] == "alex8" and r["overrides"] == {"fifo_depth": 8})
    assert remote["cycles"] == local["cycles"] and remote["energy_pj"] == local["energy_pj"]
    # A re-run on the local pool finds everything done.
    again = sweep(AXES, ["alex8", "nt_lstm"], out, workers=1)
    assert [r["key"] for r in again] == [r["key"] for r in records]
    assert len(read_results(out)) == len(records)


def test_dask_local_cluster_from_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from eie.cli.main import main

    out = tmp_path / "s.jsonl"
    assert main(["sweep", "--vary", "fifo_depth=1,8", "--benchmark", "nt_lstm", "--out", str(out),
                 "--dask-workers", "2", "--quiet"]) == 0
    assert "2 points" in capsys.readouterr().out
    assert sorted(r["config"]["fifo_depth"] for r in read_results(out)) == [1, 8]


def test_bad_scheduler_address_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from eie.cli.main import main

    assert main(["sweep", "--vary", "fifo_depth=1", "--benchmark", "nt_lstm", "--out",
                 str(tmp_path / "s.jsonl"), "--scheduler", "localhost:1", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "tcp://HOST:PORT" in err[0]
