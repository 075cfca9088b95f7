"""File helpers every layer shares: atomic writes and the cache folder (standard library only).

- ``write_atomic(path, data)``: a temporary file in the same folder, fsync, then a rename, so a
  crash leaves either the old file or the new one, never half of one;
- ``cache_dir(path=None)``: where caches live (trained reference checkpoints, the parsed MNIST
  sample): ``path``, ``$EIE_CACHE_DIR`` or ``~/.cache/eie``, never inside the package.

>>> import os, tempfile
>>> p = write_atomic(os.path.join(tempfile.mkdtemp(), "sub", "a.txt"), b"hello")
>>> p.read_bytes(), sorted(os.listdir(p.parent))
(b'hello', ['a.txt'])
>>> str(cache_dir("/tmp/x"))
'/tmp/x'
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

CACHE_ENV = "EIE_CACHE_DIR"


def write_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write bytes to ``path`` (parent folders created) via a temporary file in the same folder
    and a rename. The file gets the usual mode (``0o666`` less the umask)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def cache_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """The cache folder: ``path`` when given, else ``$EIE_CACHE_DIR``, else ``~/.cache/eie``
    (not created here; ``write_atomic`` creates it on the first write)."""
    if path is not None:
        return Path(path)
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else Path.home() / ".cache" / "eie"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
