"""The fuzz harness in the test suite: a fixed-seed run over mutated ``.eie`` files and
simulator folders (each input in a forked child with memory and time limits), and every input
that ever failed, kept under ``corpus/``. ``make fuzz`` runs the harness for longer."""

from __future__ import annotations

from pathlib import Path

import harness
import pytest

CORPUS = Path(__file__).resolve().parent / "corpus"
CI_SEED = 20261201


@pytest.mark.slow
def test_fixed_seed_fuzz_run_finds_nothing() -> None:
    report = harness.fuzz(n_eie=2000, n_sim=500, seed=CI_SEED)
    assert sum(report.counts.values()) == 2500
    assert report.bad() == 0, report.failures[:5]


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.eie")), ids=lambda p: p.name)
def test_every_kept_eie_input_is_refused_cleanly(path: Path) -> None:
    data = path.read_bytes()
    outcome, detail = harness.run_isolated(lambda: harness.target_eie(data), len(data))
    assert outcome == "ok", detail


@pytest.mark.parametrize("path", sorted(p for p in CORPUS.glob("sim-*") if p.is_dir()),
                         ids=lambda p: p.name)
def test_every_kept_simulator_folder_is_refused_cleanly(path: Path) -> None:
    size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    outcome, detail = harness.run_isolated(lambda: harness.target_folder(path), size)
    assert outcome == "ok", detail


def test_the_harness_reports_an_untyped_exception_and_a_crash() -> None:
    """The harness itself can fail: an untyped error and a signal are told apart."""
    def untyped() -> int:
        raise KeyError("x")

    def crash() -> int:
        import os
        import signal

        os.kill(os.getpid(), signal.SIGSEGV)
        return 0

    assert harness.run_isolated(untyped, 0)[0] == "untyped"
    assert harness.run_isolated(crash, 0)[0] == "crash"
    assert harness.run_isolated(lambda: 0, 0)[0] == "ok"


def test_a_batch_charges_each_outcome_to_its_own_input(monkeypatch: pytest.MonkeyPatch) -> None:
    """In one batch: an untyped error, a crash, a memory blow-up and a CPU hang are each charged
    to the input that caused it, and the inputs after a dead child still run."""
    import os
    import signal

    monkeypatch.setattr(harness, "TIME_LIMIT_S", 1.0)

    def untyped() -> int:
        raise KeyError("x")

    def crash() -> int:
        os.kill(os.getpid(), signal.SIGSEGV)
        return 0

    def blow_up() -> int:
        # 128 MiB touched for an input of 0 bytes, in ordinary pages: numpy asks for huge pages,
        # whose faults the kernel may not yet have added to VmHWM when the child reads it
        return len(b"\x01" * (128 << 20)) * 0

    def spin() -> int:
        while True:
            pass

    fns = [lambda: 0, untyped, lambda: 0, crash, lambda: 0, blow_up, lambda: 0, spin, lambda: 0]
    outcomes = [o for o, _ in harness.run_batch(fns, [0] * len(fns))]
    assert outcomes == ["ok", "untyped", "ok", "crash", "ok", "memory", "ok", "hang", "ok"]
