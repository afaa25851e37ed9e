"""Work on a stream's pieces in a thread while the event loop receives the next piece."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

# Below this, handing a piece to a thread costs more than the work on it (hashing, writing).
THREAD_MIN_BYTES = 64 * 1024


class Offload:
    """Runs ``work`` on each piece in order, one at a time: a large piece in a thread while
    the caller goes on to fetch the next, a small one at once. ``wait`` for the last one."""

    def __init__(self, work: Callable[[bytes], None]) -> None:
        self._work = work
        self._pending: asyncio.Future[None] | None = None

    async def submit(self, piece: bytes) -> None:
        await self.wait()
        if len(piece) < THREAD_MIN_BYTES:
            self._work(piece)
            return
        self._pending = asyncio.get_running_loop().run_in_executor(None, self._work, piece)

    async def wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            await pending
