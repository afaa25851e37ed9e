"""Fault injection on SQLite: a server receiving concurrent pushes is SIGKILLed at random
moments (``crashes``).

After every restart, whatever got its 201 is pullable intact and every acknowledged tag move is
in the history; at the end, gc removes the upload sessions the crashes abandoned.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from tests.reliability import crashes
from tests.reliability.scenarios import run_gc
from tests.server import free_port, start_server

# A soak runs more: TAGTRAIL_CRASH_ROUNDS=100 scripts/test tests/reliability/test_crash.py
ROUNDS = int(os.environ.get("TAGTRAIL_CRASH_ROUNDS", "8"))


def test_sigkill_during_pushes_loses_nothing_acknowledged(tmp_path: Path) -> None:
    """Every round restarts on the same port: a survivor of an earlier round (a worker still
    listening) makes the restart fail (PortTaken), as crash() itself checks none is left."""
    data = tmp_path / "data"
    port = free_port()
    done = crashes.crash_rounds(lambda: start_server(data, port=port), ROUNDS, crashes.seed())

    with sqlite3.connect(data / "tagtrail.db") as db:
        abandoned, newest = db.execute("SELECT count(*), max(started_ms) FROM uploads").fetchone()
    assert abandoned > 0
    crashes.outlive(newest, 1)
    collected = run_gc(data, env={"TAGTRAIL_UPLOAD_EXPIRY_SECONDS": "1"})
    assert f"{abandoned} expired uploads" in collected
    with sqlite3.connect(data / "tagtrail.db") as db:
        assert db.execute("SELECT count(*) FROM uploads").fetchone() == (0,)
    assert list((data / "uploads").iterdir()) == []
    crashes.verify_on(start_server(data, port=port), done)
