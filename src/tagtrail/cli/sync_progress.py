"""``mirror sync``'s progress on a terminal (rich), and nothing anywhere else, as gc's."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.progress import Progress, TaskID

from tagtrail.cli.terminal_progress import terminal_progress
from tagtrail.registry.mirror_sync import TagCheckResult
from tagtrail.registry.mirror_watch import WatchProgress


class _Bar:
    """A spinner while the upstream lists its tags, then a bar over them, moves counted."""

    def __init__(self, progress: Progress, name: str) -> None:
        self._progress = progress
        self._name = name
        self._moved = 0
        self._task: TaskID = progress.add_task(f"{name}: listing tags", total=None)
        progress.refresh()

    def listed(self, total: int) -> None:
        self._progress.reset(self._task, total=total, description=self._description())
        self._progress.refresh()

    def checked(self, tag: str, result: TagCheckResult) -> None:
        self._moved += result.moved
        self._progress.update(self._task, advance=1, description=self._description())

    def _description(self) -> str:
        return f"{self._name}: {self._moved} moved"


@contextmanager
def sync_progress(name: str) -> Iterator[WatchProgress | None]:
    """Progress drawn on standard error while it is a terminal; None otherwise."""
    with terminal_progress("sync ") as progress:
        yield None if progress is None else _Bar(progress, name)
