"""tagtrail.logs: records as one JSON object or one text line each, the access log's shortcut
in the same shapes, and Alembic's start-up lines only at the debug level."""

from __future__ import annotations

import json
import logging
import logging.config
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tagtrail import logs


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    """A pipe whose write end stands in for standard error; the root logger restored after."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level, logs._direct)
    loggers = logging.root.manager.loggerDict.values()
    enabled = [logger for logger in loggers if isinstance(logger, logging.Logger)]
    enabled = [logger for logger in enabled if not logger.disabled]
    read, write = os.pipe()
    try:
        yield read, write
    finally:
        for logger in enabled:
            logger.disabled = False
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
        logs._direct = saved[2]
        logging.getLogger("alembic").setLevel(logging.NOTSET)
        os.close(read)
        os.close(write)


def lines(read: int) -> list[str]:
    return os.read(read, 1 << 16).decode().splitlines()


def test_json_records_and_fields(pipe: tuple[int, int]) -> None:
    read, write = pipe
    # A library's logging setup silences the loggers that exist: configure revives ours.
    logging.config.dictConfig({"version": 1, "disable_existing_loggers": True})
    logs.configure("info", "json", fd=write)
    logging.getLogger("tagtrail.test").warning("hello %s", "there")
    logging.getLogger("tagtrail.test").debug("below the level")
    logs.write_fields(logging.getLogger("tagtrail.access"), logging.INFO, "GET / 200", {"a": 1})
    said = lines(read)
    assert len(said) == 2, said
    first, second = (json.loads(line) for line in said)
    assert first["level"] == "warning" and first["message"] == "hello there"
    assert first["logger"] == "tagtrail.test" and first["time"].endswith("Z")
    assert second["logger"] == "tagtrail.access" and second["a"] == 1
    assert second["message"] == "GET / 200" and second["level"] == "info"


def test_text_records_and_fields(pipe: tuple[int, int]) -> None:
    read, write = pipe
    logs.configure("warning", "text", fd=write)
    access = logging.getLogger("tagtrail.access")
    logs.write_fields(access, logging.INFO, "GET / 200", {"a": 1})  # below the level
    logs.write_fields(access, logging.WARNING, "POST /token 401", {"login": "a b", "user": None})
    (line,) = lines(read)
    stamp, rest = line.split(" ", 1)
    assert stamp.endswith("Z") and len(stamp) == len("2026-01-01T00:00:00.000Z")
    assert rest == 'warning tagtrail.access: POST /token 401 login="a b" user=-'


def test_a_record_with_an_exception_stays_one_json_line(pipe: tuple[int, int]) -> None:
    read, write = pipe
    logs.configure("info", "json", fd=write)
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("tagtrail.test").exception("failed")
    (line,) = lines(read)
    assert "ValueError: boom" in json.loads(line)["exception"]


_OPEN_DATABASE = """
import asyncio, sys
from tagtrail import logs
from tagtrail.meta.database import Database

logs.configure(sys.argv[1])

async def main() -> None:
    database = await Database.open("sqlite+aiosqlite:///" + sys.argv[2], migrate=True)
    await database.require_head()
    await database.close()

asyncio.run(main())
"""


@pytest.mark.parametrize(("level", "shown"), [("info", False), ("debug", True)])
def test_alembic_speaks_only_at_the_debug_level(tmp_path: Path, level: str, shown: bool) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _OPEN_DATABASE, level, str(tmp_path / "db.sqlite")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    said = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    assert any(line["logger"].startswith("alembic") for line in said) is shown, done.stderr
