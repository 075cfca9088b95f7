"""``eie.sim.sweep`` worker processes end when the sweep's process is killed with SIGKILL (no
clean-up runs in the parent): nothing is left computing for a dead sweep."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

SCRIPT = """
import multiprocessing, sys
from pathlib import Path
from eie.sim.sweep import sweep

pids_file = Path(sys.argv[1])

def tick(done, total, rec):
    if not pids_file.exists():
        pids = [p.pid for p in multiprocessing.active_children()]
        pids_file.write_text(" ".join(map(str, pids)))

sweep({"fifo_depth": list(range(1, 200))}, ["alex7"], sys.argv[2], workers=2, progress=tick)
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")  # a zombie has ended; only its reaping is pending


def test_workers_end_when_the_parent_is_killed(tmp_path: Path) -> None:
    pids_file = tmp_path / "pids"
    parent = subprocess.Popen([sys.executable, "-c", SCRIPT, str(pids_file),
                               str(tmp_path / "out.jsonl")])
    try:
        deadline = time.monotonic() + 60
        while not pids_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert pids_file.exists(), "the sweep recorded no finished point within 60 s"
        time.sleep(0.2)  # let the file's content land
        workers = [int(p) for p in pids_file.read_text().split()]
        assert len(workers) == 2 and all(_alive(p) for p in workers)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(p) for p in workers), "sweep workers outlived their parent"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        for p in workers if "workers" in locals() else []:
            if _alive(p):
                os.kill(p, signal.SIGKILL)
