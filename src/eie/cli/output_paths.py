"""Output paths checked before a command does any work: a run of minutes must not end in a
traceback because its output cannot be written.

``check_outputs(files=[...], dirs=[...])`` (``None`` entries are skipped) makes sure each path
can be created: its folder exists (it is created if missing) and is writable, a file path is not
a folder, a folder path is not a file, and the file system has at least ``MIN_FREE_BYTES`` free.
Raises ``ConfigError`` naming the option's path and what is wrong with it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from eie.errors import ConfigError

MIN_FREE_BYTES = 1 << 20
"""Below 1 MiB free no output of eie fits: refused up front."""


def _writable_folder(folder: Path, target: Path) -> None:
    """``folder`` exists (created when missing) as a writable, searchable folder."""
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"cannot write {target}: {folder} is not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"cannot write {target}: cannot create folder {folder} "
                          f"({e.strerror or e})") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(f"cannot write {target}: folder {folder} is not writable")
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return  # free space cannot be known here: the write itself will tell
    if free < MIN_FREE_BYTES:
        raise ConfigError(f"cannot write {target}: only {free} bytes free on the disk of "
                          f"{folder} (need at least {MIN_FREE_BYTES})")


def check_output_file(path: Path | str) -> None:
    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"cannot write {p}: it is a folder, expected a file path")
    if p.exists() and not os.access(p, os.W_OK) and not os.access(p.parent, os.W_OK):
        raise ConfigError(f"cannot write {p}: the file is read-only")
    _writable_folder(p.parent if str(p.parent) else Path("."), p)


def check_output_dir(path: Path | str) -> None:
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise ConfigError(f"cannot write into {p}: it is a file, expected a folder")
    _writable_folder(p, p)


def check_outputs(files: Iterable[Path | str | None] = (),
                  dirs: Iterable[Path | str | None] = ()) -> None:
    """Every non-None output file and folder can be written (see the module docstring)."""
    for f in files:
        if f is not None:
            check_output_file(f)
    for d in dirs:
        if d is not None:
            check_output_dir(d)
