"""Progress bars for long commands (rich), on stderr so --json output stays clean."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


@contextmanager
def progress_bar(enabled: bool = True) -> Iterator[Progress]:
    """A rich Progress with description, bar, count and elapsed time; hidden when disabled."""
    with Progress(TextColumn("[progress.description]{task.description}"), BarColumn(),
                  MofNCompleteColumn(), TextColumn("{task.fields[info]}"), TimeElapsedColumn(),
                  console=Console(stderr=True), disable=not enabled, transient=False) as bar:
        yield bar
