"""A TCP proxy that sends the upstream's answers at a link's pace: an upstream across a network.

A registry on 127.0.0.1 sends a blob at memory speed (1-2 GB/s here), which no upstream a
mirror fetches from does: Docker Hub, GHCR or a vendor's registry are a WAN or a datacenter
link away. Put in front of a local upstream, this proxy paces each connection's
upstream-to-client bytes at ``bytes_per_second`` (requests go through unpaced), so a benchmark
can compare a pull from that upstream with the same pull through a mirror of it.

It runs its own event loop in a thread of the benchmark's process; ``stop`` ends it. It copies
every byte in Python, so it competes for the cores with what it measures once its pace
approaches memory speed: measured here, a 1 Gbit/s link left the mirror's first pull at the
upstream's pace (123/122 MB/s), 2.5 Gbit/s at 0.88 of it, and at 5 Gbit/s the proxy's own
copying took the mirror down to 200 MB/s, below its unpaced 350: keep the link at rates where
the proxy is light.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time

from bench.servers import free_port

CHUNK = 256 * 1024


class PacedProxy:
    def __init__(self, target_port: int, bytes_per_second: float) -> None:
        self.port = free_port()
        self._target = target_port
        self._rate = bytes_per_second
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._stopping: asyncio.Event | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> PacedProxy:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the paced proxy did not start")
        return self

    def stop(self) -> None:
        if self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(10)

    def _run(self) -> None:
        self._loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        self._stopping = asyncio.Event()
        server = await asyncio.start_server(self._connection, "127.0.0.1", self.port)
        self._ready.set()
        async with server:
            await self._stopping.wait()

    async def _connection(
        self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(
                "127.0.0.1", self._target
            )
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(
            _pipe(client_reader, upstream_writer, None),
            _pipe(upstream_reader, client_writer, self._rate),
            return_exceptions=True,
        )


async def _pipe(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, rate: float | None
) -> None:
    """Copy until the reader ends; with ``rate``, never ahead of ``rate`` bytes a second since
    the first byte of the current burst (an idle keep-alive connection starts a new one)."""
    sent = 0
    started = 0.0
    try:
        while chunk := await reader.read(CHUNK):
            now = time.monotonic()
            if rate is not None:
                if sent == 0 or now - started > sent / rate + 1.0:  # a new answer after idling
                    sent, started = 0, now
                ahead = (sent + len(chunk)) / rate - (now - started)
                if ahead > 0:
                    await asyncio.sleep(ahead)
                sent += len(chunk)
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()
