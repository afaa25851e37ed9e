"""A progress line on a terminal (rich) for the long commands (gc, mirror sync), and nothing
anywhere else: logs and pipes stay clean."""

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
    TextColumn,
    TimeElapsedColumn,
)


@contextmanager
def terminal_progress(label: str) -> Iterator[Progress | None]:
    """A progress line on standard error, its tasks' descriptions after ``label``, while that
    is a terminal; None otherwise. The line is erased at the end, before the report prints."""
    if not sys.stderr.isatty():
        yield None
        return
    with Progress(
        SpinnerColumn(),
        TextColumn(f"{label}{{task.description}}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(file=sys.stderr),
        transient=True,
    ) as progress:
        yield progress
