"""Fuzz harness: every mutated input runs in a forked child with memory and time limits.

    python tests/fuzz/harness.py --eie 100000 --sim 10000 --seed 1 --save-failures DIR

A child loads the input through the public API (``eie.formats.container.loads`` or
``eiesim.load``) and, when it loads, uses it (storage accounting, decoding, the CPU engine on one
input vector). Outcomes:

- ``ok``: loaded and ran, or refused with an ``eie.errors`` exception;
- ``untyped``: any other exception (its type and message are recorded);
- ``memory``: MemoryError / allocation failure under the address-space limit, or a peak RSS above
  ``rss_bound(input)``;
- ``crash``: the child died from a signal (SIGSEGV, SIGABRT, ...);
- ``hang``: still running after ``TIME_LIMIT_S`` (killed).

``run_isolated`` forks one child per input (the tests of kept inputs use it); ``fuzz`` runs
``BATCH`` inputs per child with ``run_batch`` (each input with its own CPU limit and its own peak
RSS; a child that dies is charged to the input it was running, and the next inputs go to a fresh
child): a fork costs about ten times a typical input.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import select
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np

TIME_LIMIT_S = 10.0
MEMORY_LIMIT = 1 << 30
"""Address space a child may add to what it inherited (RLIMIT_AS)."""
USE_LIMIT = 1 << 22
"""Inputs describing more weights than this are loaded and decoded but not run on the engine."""

OK, UNTYPED, MEMORY = 0, 10, 11


def rss_bound(input_bytes: int, described_weights: int) -> int:
    """Peak RSS a child may add: 64 MiB of interpreter and library working set, 64 x the input's
    bytes, and 16 bytes per weight the input describes (dense decode and engine layout)."""
    return (64 << 20) + 64 * input_bytes + 16 * described_weights


def _kib(field_name: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    return 0


def _use_model(model) -> int:  # type: ignore[no-untyped-def]
    from eie.engine.engine import Engine

    weights = sum(layer.matrix.rows * layer.matrix.cols for layer in model.layers)
    for layer in model.layers:
        layer.matrix.storage()
        layer.matrix.entries_per_pe()
    if weights <= USE_LIMIT:
        for layer in model.layers:
            layer.matrix.to_codes()
        shape = _sample_shape(model)
        if shape is not None:
            Engine(model, threads=1)(np.ones((1, *shape), np.float32))
        elif model.is_sequential:
            engine = Engine(model, threads=1)
            engine(np.ones(engine.in_features, np.float32))
    return weights


def _sample_shape(model) -> tuple[int, ...] | None:  # type: ignore[no-untyped-def]
    """One sample's shape for a chain whose file says it (small positive ints only)."""
    g = model.metadata.get("graph") if isinstance(model.metadata, dict) else None
    shape = g.get("input_shape") if isinstance(g, dict) else None
    if (not isinstance(shape, list) or not 1 <= len(shape) <= 3
            or not all(type(v) is int and 1 <= v <= 64 for v in shape)):
        return None
    return tuple(shape)


def target_eie(data: bytes) -> int:
    from eie.formats.container import loads

    return _use_model(loads(data))


def target_folder(path: Path) -> int:
    from eie.formats import eiesim
    from eie.formats.model import Layer, Model

    matrix, bias, _act = eiesim.load(path)
    return _use_model(Model((Layer("sim", matrix, bias),)))


def _reset_peak_rss() -> None:
    """VmHWM back to the current RSS (Linux >= 4.0), so the next peak is one input's own."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def _measure(fn: Callable[[], int], input_bytes: int) -> tuple[int, str]:
    """(exit code, detail) of one input in this child: OK, UNTYPED or MEMORY."""
    from eie.errors import EIEError

    try:
        rss0 = _kib("VmRSS") << 10
        weights = 0
        try:
            weights = fn()
        except EIEError:
            pass
        peak = (_kib("VmHWM") << 10) - rss0
        if peak > rss_bound(input_bytes, weights):
            return MEMORY, f"peak RSS +{peak} bytes > bound {rss_bound(input_bytes, weights)}"
    except MemoryError:
        return MEMORY, traceback.format_exc(limit=-3)
    except BaseException as e:
        return UNTYPED, f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=-4)}"
    return OK, ""


def _limit_child() -> None:
    import faulthandler

    faulthandler.disable()  # a crash is reported by the parent, not dumped by the child
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    vm = _kib("VmSize") << 10
    resource.setrlimit(resource.RLIMIT_AS, (vm + MEMORY_LIMIT, vm + MEMORY_LIMIT))


def _child(fn: Callable[[], int], input_bytes: int, wfd: int) -> None:
    code, msg = UNTYPED, "the child's limits could not be set"
    try:
        _limit_child()
        cpu = int(TIME_LIMIT_S) + 1
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
        code, msg = _measure(fn, input_bytes)
    finally:
        try:
            os.write(wfd, msg.encode()[:4000])
        finally:
            os._exit(code)


def run_isolated(fn: Callable[[], int], input_bytes: int) -> tuple[str, str]:
    """(outcome, detail) of ``fn`` run in a forked child."""
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(rfd)
        _child(fn, input_bytes, wfd)
    os.close(wfd)
    deadline = time.monotonic() + TIME_LIMIT_S
    status = None
    while status is None:
        done, st = os.waitpid(pid, os.WNOHANG)
        if done:
            status = st
        elif time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(rfd)
            return "hang", f"killed after {TIME_LIMIT_S} s"
        else:
            time.sleep(0.0005)
    detail = b""
    while chunk := os.read(rfd, 65536):
        detail += chunk
    os.close(rfd)
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        return ("hang" if sig == signal.SIGXCPU else "crash"), f"signal {signal.Signals(sig).name}"
    code = os.WEXITSTATUS(status)
    return {OK: "ok", UNTYPED: "untyped", MEMORY: "memory"}.get(code, "crash"), detail.decode()


BATCH = 50
"""Inputs per forked child in ``run_batch`` (a fork costs about ten times a typical input)."""
BATCH_WALL_S = 60.0
"""Wall-clock limit per input in ``run_batch``: CPU hangs are stopped by RLIMIT_CPU after
``TIME_LIMIT_S`` of CPU; this catches a child blocked without using CPU (generous, so that a
child starved of CPU by other work on the machine is not taken for a hang)."""


def _batch_child(fns: list[Callable[[], int]], sizes: list[int], wfd: int) -> None:
    """Runs inputs one after the other, one JSON line ``[index, code, detail]`` per input: each
    input gets its own CPU limit and its own peak RSS (VmHWM reset before it)."""
    try:
        _limit_child()
        per = int(TIME_LIMIT_S) + 1
        hard = per * (len(fns) + 2)
        for j, (fn, size) in enumerate(zip(fns, sizes, strict=True)):
            ru = resource.getrusage(resource.RUSAGE_SELF)
            resource.setrlimit(resource.RLIMIT_CPU, (int(ru.ru_utime + ru.ru_stime) + per, hard))
            _reset_peak_rss()
            code, msg = _measure(fn, size)
            line = json.dumps([j, code, msg[:4000]]).encode() + b"\n"
            view = memoryview(line)
            while view:
                view = view[os.write(wfd, view):]
    finally:
        os._exit(0)


def run_batch(fns: list[Callable[[], int]], sizes: list[int]) -> list[tuple[str, str]]:
    """(outcome, detail) of each input, run ``BATCH`` at a time in forked children. A child that
    dies (signal, limit) or is killed (``BATCH_WALL_S``) is charged to the input it was running;
    the inputs after it go to a fresh child."""
    names = {OK: "ok", UNTYPED: "untyped", MEMORY: "memory"}
    results: list[tuple[str, str] | None] = [None] * len(fns)
    start = 0
    while start < len(fns):
        stop = min(start + BATCH, len(fns))
        rfd, wfd = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(rfd)
            _batch_child(fns[start:stop], sizes[start:stop], wfd)
        os.close(wfd)
        nxt, buf, last, killed = start, b"", time.monotonic(), False
        while True:
            ready, _, _ = select.select([rfd], [], [], 0.05)
            if ready:
                chunk = os.read(rfd, 65536)
                if not chunk:
                    break
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    j, code, msg = json.loads(line)
                    results[start + j] = (names.get(code, "crash"), msg)
                    nxt, last = start + j + 1, time.monotonic()
            elif time.monotonic() - last > BATCH_WALL_S:
                os.kill(pid, signal.SIGKILL)
                killed = True
                break
        _, status = os.waitpid(pid, 0)
        os.close(rfd)
        if nxt < stop:  # the child ended while running input nxt
            if killed:
                results[nxt] = ("hang", f"killed after {BATCH_WALL_S} s wall")
            elif os.WIFSIGNALED(status):
                sig = os.WTERMSIG(status)
                results[nxt] = ("hang" if sig == signal.SIGXCPU else "crash",
                                f"signal {signal.Signals(sig).name}")
            else:
                results[nxt] = ("crash", f"child exited with {os.WEXITSTATUS(status)} mid-input")
            nxt += 1
        start = nxt
    return [r if r is not None else ("crash", "no result") for r in results]


@dataclass
class Report:
    counts: Counter = field(default_factory=Counter)
    failures: list[tuple[str, str, str]] = field(default_factory=list)
    """(kind of input, outcome, detail)."""

    def bad(self) -> int:
        return sum(v for k, v in self.counts.items() if not k.endswith(":ok"))


def fuzz(n_eie: int, n_sim: int, seed: int, save_failures: Path | None = None,
         progress: bool = False, max_seconds: float = float("inf")) -> Report:
    """``n_eie`` mutated files then ``n_sim`` mutated folders, ``BATCH`` inputs per forked child
    (``run_batch``; each loop stops early once ``max_seconds`` have passed since the start)."""
    import mutate

    # The targets' modules are imported here, once: children forked from this process start with
    # them loaded (importing the engine in every child took about a third of its CPU time).
    import eie.engine.engine
    import eie.formats.container
    import eie.formats.eiesim  # noqa: F401

    rng = random.Random(seed)
    report = Report()
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="eie-fuzz-") as tmp_s:
        tmp = Path(tmp_s)
        seeds = mutate.seed_models(rng, tmp)
        t0 = time.monotonic()
        done = 0
        while done < n_eie and time.monotonic() - start <= max_seconds:
            datas = [mutate.mutate_eie(rng.choice(seeds), rng)
                     for _ in range(min(BATCH, n_eie - done))]
            results = run_batch([lambda d=d: target_eie(d) for d in datas],
                                [len(d) for d in datas])
            for i, (data, (outcome, detail)) in enumerate(zip(datas, results, strict=True),
                                                          start=done):
                report.counts[f"eie:{outcome}"] += 1
                if outcome != "ok":
                    report.failures.append(("eie", outcome, detail))
                    if save_failures:
                        save_failures.mkdir(parents=True, exist_ok=True)
                        (save_failures / f"eie-{seed}-{i}-{outcome}.eie").write_bytes(data)
                if progress and (i + 1) % 5000 == 0:
                    print(f"{i + 1} .eie inputs, {time.monotonic() - t0:.0f} s, "
                          f"{dict(report.counts)}", flush=True)
            done += len(datas)
        folders = mutate.seed_folders(rng, tmp / "seeds")
        done = 0
        while done < n_sim and time.monotonic() - start <= max_seconds:
            dests = [tmp / f"in{i}" for i in range(done, min(done + BATCH, n_sim))]
            for dest in dests:
                mutate.mutate_folder(rng.choice(folders), dest, rng)
            sizes = [sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())
                     for dest in dests]
            results = run_batch([lambda d=dest: target_folder(d) for dest in dests], sizes)
            for i, (dest, (outcome, detail)) in enumerate(zip(dests, results, strict=True),
                                                          start=done):
                report.counts[f"sim:{outcome}"] += 1
                if outcome != "ok":
                    report.failures.append(("sim", outcome, detail))
                    if save_failures:
                        shutil.copytree(dest, save_failures / f"sim-{seed}-{i}-{outcome}")
                shutil.rmtree(dest)
                if progress and (i + 1) % 2000 == 0:
                    print(f"{i + 1} folders, {time.monotonic() - t0:.0f} s, {dict(report.counts)}",
                          flush=True)
            done += len(dests)
    return report


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--eie", type=int, default=10000, help=".eie inputs")
    p.add_argument("--sim", type=int, default=1000, help="simulator folders")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--save-failures", type=Path, default=None, help="folder for failing inputs")
    p.add_argument("--max-seconds", type=float, default=float("inf"),
                   help="stop early after this long (the counts say how far it got)")
    args = p.parse_args()
    t0 = time.monotonic()
    cpu0 = time.process_time()
    report = fuzz(args.eie, args.sim, args.seed, args.save_failures, progress=True,
                  max_seconds=args.max_seconds)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    n_eie = sum(v for k, v in report.counts.items() if k.startswith("eie:"))
    n_sim = sum(v for k, v in report.counts.items() if k.startswith("sim:"))
    print(f"seed {args.seed}: {n_eie} .eie inputs, {n_sim} simulator folders in "
          f"{time.monotonic() - t0:.0f} s wall ({time.process_time() - cpu0:.0f} s CPU parent, "
          f"{children.ru_utime + children.ru_stime:.0f} s CPU children, peak child RSS "
          f"{children.ru_maxrss // 1024} MiB)")
    print("outcomes:", dict(sorted(report.counts.items())))
    for kind, outcome, detail in report.failures[:20]:
        print(f"--- {kind} {outcome}: {detail}")
    return 1 if report.bad() else 0


if __name__ == "__main__":
    sys.exit(main())
