"""gc's progress on a terminal (rich), and nothing anywhere else: logs and pipes stay clean."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.progress import Progress, TaskID

from tagtrail.cli.terminal_progress import terminal_progress
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
    """Progress drawn on standard error while it is a terminal; None otherwise."""
    with terminal_progress("gc: ") as progress:
        yield None if progress is None else _Bar(progress)
