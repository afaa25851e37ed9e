"""Fault injection, for a SQLite server and for PostgreSQL + S3 replicas alike: a server
receiving concurrent pushes is SIGKILLed at random moments, round after round.

After every restart, whatever got its 201 is pullable intact and every acknowledged tag move is
in the history.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.reliability.pusher import Acknowledged, push_image, verify_all
from tests.server import RunningServer, running_in_group, top_processes
from tests.ssl_context import SHARED

REPOS = ("crash/app", "crash/base", "crash/tools/cli")
TAGS = ("latest", "stable", "v1")
FIRST_MANIFEST_TIMEOUT = 60
SURVIVOR_PATIENCE = 2.0  # seconds a killed server's workers and port may outlive it


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
    """SIGKILL the server (and a prefix such as faketime), as ``kill -9`` would. Its workers
    are not signalled: the kernel kills them with it (PR_SET_PDEATHSIG), so within 2 s no
    process of it runs and nothing answers on its port, or this fails naming the survivors (a
    worker that outlived its server kept serving beside the next one)."""
    group = server.process.pid
    for pid in top_processes(group):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    server.process.wait()
    deadline = time.monotonic() + SURVIVOR_PATIENCE
    while (survivors := running_in_group(group)) or answers(server.port):
        assert time.monotonic() < deadline, (
            f"{SURVIVOR_PATIENCE} s after SIGKILL of the server, processes {survivors} still "
            f"run and port {server.port} {'answers' if answers(server.port) else 'is closed'}"
        )
        time.sleep(0.02)


def answers(port: int) -> bool:
    """Whether anything accepts connections on 127.0.0.1:``port``."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


async def workload(
    url: str,
    rng: random.Random,
    done: Acknowledged,
    seconds: float,
    pushed: asyncio.Event | None = None,
) -> None:
    """Concurrent pushers (chunked and monolithic, tag moves) and abandoned uploads, until
    the deadline; requests cut off by the crash simply are not acknowledged. ``pushed`` is set
    when an image is."""
    deadline = time.monotonic() + seconds

    async def pusher(seed: int) -> None:
        local = random.Random(seed)
        async with httpx.AsyncClient(base_url=url, timeout=10, verify=SHARED) as http:
            while time.monotonic() < deadline:
                repo, tag = local.choice(REPOS), local.choice(TAGS)
                try:
                    if local.random() < 0.15:
                        started = await http.post(f"/v2/{repo}/blobs/uploads/")
                        await http.patch(started.headers["location"], content=b"abandoned")
                        continue
                    await push_image(http, repo, tag, local, done)
                    if pushed is not None:
                        pushed.set()
                except (httpx.TransportError, KeyError):
                    return  # the server is gone

    await asyncio.gather(*(pusher(rng.randrange(2**32)) for _ in range(8)))


async def crash_during_workload(
    server: RunningServer,
    rng: random.Random,
    into: Acknowledged,
    within: tuple[float, float],
    after_first_manifest: bool,
) -> None:
    """Push to ``server`` and SIGKILL it a random number of seconds in ``within`` after the
    start, or after the first manifest it acknowledged."""
    waits = FIRST_MANIFEST_TIMEOUT if after_first_manifest else 0
    pushed = asyncio.Event()
    task = asyncio.create_task(
        workload(server.url, rng, into, seconds=within[1] + waits + 4, pushed=pushed)
    )
    if after_first_manifest:
        waiting = asyncio.create_task(pushed.wait())
        await asyncio.wait(
            {task, waiting}, timeout=FIRST_MANIFEST_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
        )
        waiting.cancel()
        if task.done():
            await task  # its failure, if it failed
        assert pushed.is_set(), f"no image acknowledged within {FIRST_MANIFEST_TIMEOUT} s"
    await asyncio.sleep(rng.uniform(*within))
    crash(server)
    await task


async def verify(url: str, done: Acknowledged) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30, verify=SHARED) as http:
        await verify_all(http, done)


def verify_on(server: RunningServer, done: Acknowledged) -> None:
    """Everything in ``done`` is served intact by ``server``, which is stopped afterwards."""
    try:
        asyncio.run(verify(server.url, done))
    finally:
        server.stop()


def crash_rounds(
    start: Callable[[], RunningServer],
    rounds: int,
    rng: random.Random,
    crash_within: tuple[float, float] = (0.2, 1.0),
    *,
    after_first_manifest: bool = False,
) -> Acknowledged:
    """``rounds`` times: start a server, check what the previous round acknowledged before its
    crash survived, then push until a SIGKILL a random number of seconds in ``crash_within``
    after the start, or with ``after_first_manifest`` after the round's first acknowledged
    manifest (for storage so slow, or a machine so busy, that the first pushes take seconds);
    a last start checks the last round. What all rounds acknowledged (each round's checked once,
    after the crash that ended it)."""
    done = Acknowledged()
    previous = Acknowledged()
    for round_number in range(rounds + 1):
        server = start()
        try:
            asyncio.run(verify(server.url, previous))
            done.merge(previous)
            previous = Acknowledged()
            if round_number == rounds:
                break
            asyncio.run(
                crash_during_workload(server, rng, previous, crash_within, after_first_manifest)
            )
        finally:
            server.stop()
    assert sum(len(m) for m in done.manifests.values()) > rounds  # the crashes hit real work
    return done


def outlive(started_ms: int, expiry_seconds: float) -> None:
    """Return once an upload started at ``started_ms`` is past ``expiry_seconds`` (by the wall
    clock, as gc judges it): often at once, the restarts after the last crash took longer."""
    time.sleep(max(0.0, started_ms / 1000 + expiry_seconds + 0.05 - time.time()))


def seed() -> random.Random:
    return random.Random(int(os.environ.get("TAGTRAIL_CRASH_SEED", "20261127")))
