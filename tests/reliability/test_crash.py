"""Fault injection: a server receiving concurrent pushes is SIGKILLed at random moments.

After every restart, whatever got its 201 is pullable intact and every acknowledged tag move is
in the history; at the end, gc removes the upload sessions the crashes abandoned.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.reliability.pusher import Acknowledged, push_image, verify_all
from tests.server import RunningServer, start_server

ROUNDS = 20
REPOS = ("crash/app", "crash/base", "crash/tools/cli")
TAGS = ("latest", "stable", "v1")


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        pending.extend(children.get(current, []))
    return found


def crash(server: RunningServer) -> None:
    """SIGKILL the server and its workers at once, as a power cut would."""
    for pid in descendants(server.process.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    server.process.wait()


async def workload(url: str, rng: random.Random, done: Acknowledged, seconds: float) -> None:
    """Concurrent pushers (chunked and monolithic, tag moves) and abandoned uploads, until
    the deadline; requests cut off by the crash simply are not acknowledged."""
    deadline = time.monotonic() + seconds

    async def pusher(seed: int) -> None:
        local = random.Random(seed)
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            while time.monotonic() < deadline:
                repo, tag = local.choice(REPOS), local.choice(TAGS)
                try:
                    if local.random() < 0.15:
                        started = await http.post(f"/v2/{repo}/blobs/uploads/")
                        await http.patch(started.headers["location"], content=b"abandoned")
                        continue
                    await push_image(http, repo, tag, local, done)
                except (httpx.TransportError, KeyError):
                    return  # the server is gone

    await asyncio.gather(*(pusher(rng.randrange(2**32)) for _ in range(8)))


async def crash_during_workload(
    server: RunningServer, rng: random.Random, into: Acknowledged
) -> None:
    task = asyncio.create_task(workload(server.url, rng, into, seconds=5))
    await asyncio.sleep(rng.uniform(0.2, 1.0))
    crash(server)
    await task


async def verify(url: str, done: Acknowledged) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        await verify_all(http, done)


def test_sigkill_during_pushes_loses_nothing_acknowledged(tmp_path: Path) -> None:
    rng = random.Random(int(os.environ.get("TAGTRAIL_CRASH_SEED", "20261127")))
    data = tmp_path / "data"
    done = Acknowledged()
    previous = Acknowledged()
    for round_number in range(ROUNDS + 1):
        server = start_server(data)
        try:
            # What the last round acknowledged before its crash survived the restart.
            asyncio.run(verify(server.url, previous))
            done.merge(previous)
            previous = Acknowledged()
            if round_number == ROUNDS:
                break

            asyncio.run(crash_during_workload(server, rng, previous))
        finally:
            server.stop()

    assert sum(len(m) for m in done.manifests.values()) > ROUNDS  # the crashes hit real work
    with sqlite3.connect(data / "tagtrail.db") as db:
        (abandoned,) = db.execute("SELECT count(*) FROM uploads").fetchone()
    assert abandoned > 0
    time.sleep(1.1)
    env = {**os.environ, "TAGTRAIL_UPLOAD_EXPIRY_SECONDS": "1"}
    collected = subprocess.run(
        [sys.executable, "-m", "tagtrail", "gc", "--data-dir", str(data)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert collected.returncode == 0, collected.stderr
    assert f"{abandoned} expired uploads" in collected.stdout
    with sqlite3.connect(data / "tagtrail.db") as db:
        assert db.execute("SELECT count(*) FROM uploads").fetchone() == (0,)
    assert list((data / "uploads").iterdir()) == []
    server = start_server(data)
    try:
        asyncio.run(verify(server.url, done))
    finally:
        server.stop()
