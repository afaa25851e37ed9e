"""Key files kept in ``<data_dir>/keys/``: one key a line, the newest last, each line the key
and when it was made (``<key>  created <RFC 3339>``); blank lines and ``#`` comments are
skipped. The web UI's session keys (``ui/session.py``) and the mirror credentials key
(``meta/credentials.py``) are such files; the token signing keys are PEM files of their own
(``auth/keys.py``)."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from tagtrail.clock import now_ms
from tagtrail.times import format_timestamp


def key_line(key: str) -> str:
    """The line that adds ``key``, made now."""
    return f"{key}  created {format_timestamp(now_ms(), timespec='seconds')}\n"


def key_words(path: Path) -> list[tuple[int, str]]:
    """(line number, key) of every key line of ``path``, oldest first."""
    found = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        words = line.split()
        if words and not words[0].startswith("#"):
            found.append((number, words[0]))
    return found


def write_new(path: Path, text: str, *, replace_existing: bool = False) -> None:
    """Write ``text`` to ``path`` as a whole, readable by its owner only: to a new file first,
    then linked into place (a concurrent first start's file wins, and no reader ever sees a
    half-written one) or, for a rotation, renamed over the old one."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        if replace_existing:
            os.replace(temporary, path)
        else:
            with contextlib.suppress(FileExistsError):  # another process's file: theirs wins
                os.link(temporary, path)  # never replaces
    finally:
        temporary.unlink(missing_ok=True)
