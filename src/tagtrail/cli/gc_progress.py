"""gc's progress on a terminal (rich), and nothing anywhere else: logs and pipes stay clean."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from tagtrail.registry.gc import GcProgress


class _Bar:
    """One line, reset for each pass: a bar over a known count, a counter over a listing."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._task: TaskID | None = None

    def phase(self, name: str, total: int | None) -> None:
        if self._task is None:
            self._task = self._progress.add_task(name, total=total)
        else:
            self._progress.reset(self._task, total=total, description=name)
        self._progress.refresh()  # a pass can be shorter than the refresh period: show it

    def advance(self, done: int = 1) -> None:
        if self._task is not None:
            self._progress.advance(self._task, done)


@contextmanager
def gc_progress() -> Iterator[GcProgress | None]:
    """Progress drawn on standard error while it is a terminal; None otherwise. The line is
    erased at the end, before the report is printed."""
    if not sys.stderr.isatty():
        yield None
        return
    with Progress(
        SpinnerColumn(),
        TextColumn("gc: {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(file=sys.stderr),
        transient=True,
    ) as progress:
        yield _Bar(progress)
