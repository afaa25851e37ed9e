"""A real tagtrail server pulling through a mirror of the package's Distribution, with the
fault proxy between them (so that a test can count the upstream's requests, stop it, or
corrupt its bytes), and helpers to read what the server holds."""

from __future__ import annotations

import asyncio
import io
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tagtrail.cli.main import main
from tests.auth.cli import admin
from tests.mirror.faults import FaultProxy
from tests.mirror.upstreams import Distribution
from tests.server import RunningServer, start_server

PREFIX = "dist"


@dataclass
class PullThrough:
    server: RunningServer
    proxy: SlowProxy
    distribution: Distribution
    interval_s: int

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.server.url, timeout=30)

    def upstream(self) -> httpx.Client:
        """Distribution itself, not through the proxy: what the tests push and delete."""
        return httpx.Client(base_url=self.distribution.url, timeout=30)

    def requests(self, method: str, pattern: str) -> int:
        """How many requests of ``method`` whose path contains ``pattern`` the upstream got."""
        return sum(1 for m, path in self.proxy.seen if m == method and pattern in path)

    def blob_file(self, digest: str) -> Path:
        """Where the server's filesystem storage keeps blob ``digest``."""
        algorithm, _, hex_ = digest.partition(":")
        return self.server.data_dir / "blobs" / algorithm / hex_[:2] / hex_


def repository() -> str:
    """A repository name of the upstream's that no other test uses."""
    return f"app-{secrets.token_hex(4)}"


def db_upgrade(data_dir: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["db", "upgrade", "--data-dir", str(data_dir)])
    assert code == 0, err.getvalue()


@dataclass
class SlowProxy(FaultProxy):
    """The fault proxy, answering every request ``delay`` seconds late while it is set: an
    upstream that is slow rather than down."""

    delay: float = 0.0

    async def _handle(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, http: httpx.AsyncClient
    ) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        await super()._handle(reader, writer, http)


async def _settle(tasks: set[asyncio.Task[Any]]) -> None:
    await asyncio.gather(*tasks, return_exceptions=True)


@contextmanager
def slow_proxy(upstream: str) -> Iterator[SlowProxy]:
    """A running ``SlowProxy`` in front of ``upstream``, on a loop in a thread of its own."""
    proxy = SlowProxy(upstream)
    ready = threading.Event()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    thread = threading.Thread(
        target=lambda: loop.run_until_complete(proxy._serve(ready, stop)), daemon=True
    )
    thread.start()
    assert ready.wait(10), "the proxy did not start"
    try:
        yield proxy
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        # Requests still held by the delay end with the proxy, not at the loop's collection.
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(_settle(pending))
        loop.close()


@contextmanager
def pull_through(
    data_dir: Path, distribution: Distribution, *flags: str, interval_s: int = 4
) -> Iterator[PullThrough]:
    """A server on ``data_dir`` whose prefix ``dist`` mirrors ``distribution`` (via a fault
    proxy), checking tags every ``interval_s`` seconds."""
    with slow_proxy(distribution.url) as proxy:
        db_upgrade(data_dir)
        admin(data_dir, "mirror", "add", PREFIX, proxy.url, "--check-interval", f"{interval_s}s")
        proxy.clear()
        server = start_server(data_dir, *flags)
        try:
            yield PullThrough(server, proxy, distribution, interval_s)
        finally:
            server.stop()


def poll(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Wait until ``check()`` holds, failing with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.05)
