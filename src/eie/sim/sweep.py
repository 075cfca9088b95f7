"""Design-space sweeps: vary any ``HardwareConfig`` fields over lists, simulate the benchmark
layers at every point in parallel, append each finished point to a JSONL file (a re-run skips
what is already there, so nothing finished is lost).

>>> pts = grid({"fifo_depth": [1, 8], "num_pes": [4]})
>>> pts
[{'fifo_depth': 1, 'num_pes': 4}, {'fifo_depth': 8, 'num_pes': 4}]
"""

from __future__ import annotations

import ctypes
import functools
import itertools
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

from eie.errors import ConfigError
from eie.sim.config import HardwareConfig

# The paper's design-space studies (section VI), as sweep axes.
PRESETS: dict[str, dict[str, list[Any]]] = {
    "fifo": {"fifo_depth": [1, 2, 4, 8, 16, 32, 64, 128, 256]},
    "pes": {"num_pes": [1, 2, 4, 8, 16, 32, 64, 128, 256]},
    "sram": {"spmat_sram_width_bits": [32, 64, 128, 256, 512]},
    "index": {"index_bits": [2, 3, 4, 5, 6, 7, 8]},
    "codebook": {"weight_bits": [2, 3, 4, 5, 6, 7, 8]},
}

Record = dict[str, Any]
Progress = Callable[[int, int, Record], None]


def grid(axes: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Cartesian product of the axes, as a list of field -> value overrides."""
    names = list(axes)
    for n in names:
        if not axes[n]:
            raise ConfigError(f"sweep axis {n!r} has no values")
    return [dict(zip(names, values, strict=True))
            for values in itertools.product(*(axes[n] for n in names))]


def point_config(base: HardwareConfig, overrides: Mapping[str, Any]) -> HardwareConfig:
    """``base`` with ``overrides``; varying ``weight_bits`` alone also sets
    ``codebook_entries = 2**weight_bits`` (the codebook-bits study)."""
    changes = dict(overrides)
    if "weight_bits" in changes and "codebook_entries" not in changes:
        changes["codebook_entries"] = 1 << int(changes["weight_bits"])
    return base.replace(**changes)


def point_key(layer: str, seed: int, config: HardwareConfig) -> str:
    """Identity of a point: the layer, the seed and the full config (so changing the base config
    never reuses stale results)."""
    return json.dumps({"layer": layer, "seed": seed, "config": config.to_dict()}, sort_keys=True)


@functools.lru_cache(maxsize=8)
def _layer(name: str, num_pes: int, seed: int, index_bits: int, codebook_entries: int
           ) -> tuple[Any, Any]:
    from eie.formats.benchmark_layers import make_layer
    from eie.sim.real_layers import MINILM, make_real_layer

    if name in MINILM:  # real weights: their 16-entry codebook whatever codebook_entries says
        return make_real_layer(name, num_pes=num_pes, seed=seed, index_bits=index_bits)
    return make_layer(name, num_pes=num_pes, seed=seed, index_bits=index_bits,
                      codebook_entries=codebook_entries)


@functools.lru_cache(maxsize=32)
def _format(name: str, seed: int, codebook_entries: int) -> Any:
    """The fixed-point format of a benchmark layer: the same weights and inputs at every PE
    count, so one float reference pass per (layer, seed, codebook) suffices."""
    from eie.sim.simulate import _default_format

    m, x = _layer(name, 64, seed, 4, codebook_entries)
    return _default_format([m], x.astype("float64"), [None], [None])


_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _die_with_parent(parent_pid: int) -> None:
    """Pool initializer: the worker ends when the sweep's process dies, even by SIGKILL (which
    runs no clean-up). Without this, a worker blocks forever on the dead parent's job queue.
    Linux: the kernel sends SIGKILL on the parent's death (``PR_SET_PDEATHSIG``); everywhere: a
    daemon thread exits once the worker has been re-parented."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:  # died before the signal was armed
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True,
                     name="eie-sweep-parent-watch").start()


def _watch_parent(parent_pid: int) -> None:
    while True:
        time.sleep(1.0)
        if os.getppid() != parent_pid:
            os._exit(1)


def run_point(layer: str, seed: int, config_dict: dict[str, Any]) -> Record:
    """Simulate one benchmark layer at one config (runs in a worker process)."""
    from eie.sim.simulate import simulate

    config = HardwareConfig.from_dict(config_dict)
    m, x = _layer(layer, config.num_pes, seed, config.index_bits, config.codebook_entries)
    r = simulate(m, x, config=config, fmt=_format(layer, seed, config.codebook_entries),
                 name=layer)
    return {**r.to_json(), "layer": layer, "seed": seed}


Job = tuple[str, str, int, HardwareConfig, dict[str, Any]]


def _run_on_dask(todo: list[Job], finish: Callable[[Job, Record], None], scheduler: str | None,
                 dask_workers: int | None) -> None:
    """Submit every point to a Dask cluster and record each as it completes."""
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise ConfigError("Dask sweeps need the dask extra: pip install 'eie[dask]'") from None
    cluster = None
    try:
        if scheduler is None:
            cluster = LocalCluster(n_workers=dask_workers, threads_per_worker=1, processes=True,
                                   host="127.0.0.1", dashboard_address="127.0.0.1:0")
            client = Client(cluster)
        else:
            try:
                client = Client(scheduler, timeout=30)
            except (OSError, TimeoutError) as e:
                raise ConfigError(f"cannot reach the Dask scheduler at {scheduler}: "
                                  f"{e}") from None
        try:
            futures = {client.submit(run_point, j[1], j[2], j[3].to_dict(), pure=False): j
                       for j in todo}
            for fut in as_completed(futures):
                finish(futures[fut], fut.result())
        finally:
            client.close()
    finally:
        if cluster is not None:
            cluster.close()


def read_results(path: str | os.PathLike[str]) -> list[Record]:
    """Records of a JSONL results file; a torn last line (interrupted write) is ignored."""
    p = Path(path)
    if not p.exists():
        return []
    out = []
    for line in p.read_text().splitlines():
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict) and "key" in rec:
            out.append(rec)
    return out


def _append(path: Path, record: Record) -> None:
    # A torn last line (no newline) from an interrupted run must not swallow this record.
    torn = False
    if path.exists() and path.stat().st_size:
        with path.open("rb") as f:
            f.seek(-1, os.SEEK_END)
            torn = f.read(1) != b"\n"
    with path.open("a") as f:
        f.write(("\n" if torn else "") + json.dumps(record) + "\n")
        f.flush()
        os.fsync(f.fileno())


def sweep(axes: Mapping[str, Sequence[Any]], layers: Iterable[str], out: str | os.PathLike[str],
          *, base: HardwareConfig | None = None, seeds: Sequence[int] = (0,),
          workers: int | None = None, progress: Progress | None = None,
          scheduler: str | None = None, dask_workers: int | None = None) -> list[Record]:
    """Run every (layer, seed, grid point) not yet in ``out`` (JSONL), appending each record as
    it finishes; return the records of this sweep (old and new), in grid order.

    ``workers``: local processes (default: the local core count); 1 runs in this process.
    ``scheduler`` (``tcp://HOST:PORT``): run the points on that Dask distributed cluster
    instead; ``dask_workers``: start a ``LocalCluster`` of that many worker processes (loopback
    only). Either way the records are appended here, in this process, as they finish: a worker
    lost mid-sweep loses nothing finished (Dask reruns its points elsewhere).
    Each record is ``SimResult.to_json()`` plus ``layer``, ``seed``, ``overrides`` and ``key``.
    """
    if scheduler is not None and dask_workers is not None:
        raise ConfigError("give either a Dask scheduler address or a number of Dask workers, "
                          "not both")
    if dask_workers is not None and not 1 <= dask_workers <= 1024:
        raise ConfigError(f"dask_workers should be in 1..1024, found {dask_workers}")
    if scheduler is not None and not scheduler.startswith(("tcp://", "tls://", "ws://",
                                                           "wss://")):
        raise ConfigError(f"the Dask scheduler address should look like tcp://HOST:PORT, "
                          f"found {scheduler!r}")
    base = base or HardwareConfig()
    out_path = Path(out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    jobs: list[tuple[str, str, int, HardwareConfig, dict[str, Any]]] = []
    for layer in layers:
        for seed in seeds:
            for ov in grid(axes):
                cfg = point_config(base, ov)
                jobs.append((point_key(layer, seed, cfg), layer, seed, cfg, ov))
    done = {r["key"]: r for r in read_results(out_path)}
    todo = [j for j in jobs if j[0] not in done]
    total, finished = len(jobs), len(jobs) - len(todo)

    def finish(job: tuple[str, str, int, HardwareConfig, dict[str, Any]], rec: Record) -> None:
        nonlocal finished
        rec = {**rec, "overrides": job[4], "key": job[0]}
        _append(out_path, rec)
        done[job[0]] = rec
        finished += 1
        if progress:
            progress(finished, total, rec)

    n_workers = workers or os.cpu_count() or 1
    if scheduler is not None or dask_workers is not None:
        if todo:
            _run_on_dask(todo, finish, scheduler, dask_workers)
    elif n_workers == 1 or len(todo) <= 1:
        for job in todo:
            finish(job, run_point(job[1], job[2], job[3].to_dict()))
    else:
        # Jobs come layer by layer, so a worker often reuses its cached layer.
        with ProcessPoolExecutor(max_workers=n_workers, initializer=_die_with_parent,
                                 initargs=(os.getpid(),)) as pool:
            pending: dict[Future[Record], tuple[str, str, int, HardwareConfig,
                                                dict[str, Any]]] = {
                pool.submit(run_point, j[1], j[2], j[3].to_dict()): j for j in todo}
            while pending:
                ready, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in ready:
                    job = pending.pop(fut)
                    finish(job, fut.result())
    # A point may have been recorded by another sweep (e.g. fifo_depth=8 in a PE sweep): report
    # it with this sweep's overrides.
    return [{**done[j[0]], "overrides": j[4]} for j in jobs]
