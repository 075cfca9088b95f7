"""Every command that writes checks its output paths before any work: one line, exit 2."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

import eie
from eie.cli.main import main
from eie.cli.output_paths import check_outputs
from eie.errors import ConfigError
from eie.formats import EIEMatrix


@pytest.fixture
def blocker(tmp_path: Path) -> Path:
    """A plain file standing where an output folder would have to be."""
    f = tmp_path / "a-file"
    f.write_text("x")
    return f


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    m = EIEMatrix.from_codes([[1, 0], [0, 2]], np.array([0, 1.0, 2.0], np.float32), num_pes=2)
    np.save(tmp_path / "x.npy", np.ones(2, np.float32))
    return eie.save(tmp_path / "m.eie", m)


def _refused(argv: list[str], capsys: pytest.CaptureFixture[str], match: str) -> None:
    t0 = time.monotonic()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and match in err, err
    assert time.monotonic() - t0 < 20  # refused up front, not after the work


@pytest.mark.parametrize("argv", [
    ["compress", "lenet300", "-o", "{blocker}/m.eie"],
    ["sensitivity", "lenet300", "--plot", "{blocker}/s.png"],
    ["sweep", "--out", "{blocker}/s.jsonl"],
    ["demo", "--quick", "--out", "{blocker}/demo"],
    ["paper", "--quick", "--out", "{blocker}"],
    ["simulate", "--benchmark", "all", "--output", "{blocker}/r.json"],
])
def test_long_commands_refuse_an_unwritable_output_first(argv: list[str], blocker: Path,
                                                          capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    _refused([a.format(blocker=blocker) for a in argv], capsys, "cannot write")


def test_run_refuses_a_folder_as_output(model_file: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    _refused(["run", str(model_file), "-i", str(tmp_path / "x.npy"), "-o", str(tmp_path)], capsys,
             "it is a folder")


def test_convert_refuses_a_file_as_simulator_folder(model_file: Path, blocker: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    _refused(["convert", str(model_file), str(blocker), "--to", "eiesim"], capsys,
             "it is a file")


def test_convert_refuses_huge_rows(model_file: Path, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    sim = tmp_path / "sim"
    assert main(["convert", str(model_file), str(sim), "--to", "eiesim"]) == 0
    capsys.readouterr()
    _refused(["convert", str(sim), str(tmp_path / "o.eie"), "--rows", "9223372036854775807"],
             capsys, "rows should be an integer")


def test_inspect_refuses_a_hostile_shape_in_one_line(model_file: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fuzz"))
    from eiefile import EieFile

    f = EieFile.parse(model_file.read_bytes())
    f.layer()["shape"] = [9223372036854775807, 40]
    bad = tmp_path / "bad.eie"
    bad.write_bytes(f.to_bytes())
    _refused(["inspect", str(bad)], capsys, "shape should be within")


def test_check_outputs_creates_missing_folders_and_accepts_none(tmp_path: Path) -> None:
    check_outputs(files=[tmp_path / "a" / "b" / "f.eie", None], dirs=[tmp_path / "c" / "d", None])
    assert (tmp_path / "a" / "b").is_dir() and (tmp_path / "c" / "d").is_dir()
    assert not (tmp_path / "a" / "b" / "f.eie").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into read-only folders")
def test_check_outputs_refuses_a_read_only_folder(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(ConfigError, match="not writable"):
            check_outputs(files=[ro / "m.eie"])
    finally:
        ro.chmod(0o700)


def test_check_outputs_refuses_a_folder_no_user_may_write_into() -> None:
    """The read-only-folder refusal for every user, root included: procfs lets no one create a
    file in a process's folder (the same check as a chmod 500 folder for an ordinary user)."""
    ro = Path("/proc/self")
    if not ro.is_dir() or os.access(ro, os.W_OK):
        pytest.skip("no procfs folder that refuses writes here")
    with pytest.raises(ConfigError, match="folder /proc/self is not writable"):
        check_outputs(files=[ro / "m.eie"])
    with pytest.raises(ConfigError, match="cannot create folder"):
        check_outputs(dirs=[ro / "out"])


def test_a_disk_without_free_space_is_refused_up_front(capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    """A writable folder on a file system with no free bytes (root's view of /proc/self/fd):
    refused before the work, by check_outputs and by the CLI."""
    import shutil

    from eie.cli.output_paths import MIN_FREE_BYTES

    full = Path("/proc/self/fd")
    if not full.is_dir() or not os.access(full, os.W_OK | os.X_OK) or \
            shutil.disk_usage(full).free >= MIN_FREE_BYTES:
        pytest.skip("no writable folder on a full file system here (procfs as root)")
    with pytest.raises(ConfigError, match="only 0 bytes free"):
        check_outputs(files=[full / "m.eie"])
    _refused(["compress", "lenet300", "-o", str(full / "m.eie")], capsys, "bytes free")
