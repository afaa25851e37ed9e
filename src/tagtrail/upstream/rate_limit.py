"""A request rate no watch exceeds: a token bucket, and an httpx transport that waits on it.

Watches ask upstreams on their own schedule, hundreds of tags a round; an upstream (Docker Hub
above all) throttles or bans a client that asks too fast. Every request of a watch's client
(HEADs, GETs, token requests, blob fetches, redirects) takes one token first, so the limit
holds whatever a round turns out to need. The bucket holds at most ``rate`` tokens: a
worker idle for a while may send one second's worth at once, never more.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import httpx


class TokenBucket:
    """At most ``rate`` acquisitions a second on average, bursts of ``rate`` at most.

    ``clock`` and ``sleep`` are injectable, so the waits can be tested without waiting."""

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("a request rate is positive")
        self.rate = rate
        self._capacity = max(rate, 1.0)
        self._clock = clock
        self._sleep = sleep
        self._tokens = self._capacity
        self._updated = clock()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        """Take one token, waiting until there is one. Waiters are served in turn (the
        lock), so a round cannot starve a status check."""
        async with self._lock:
            self._refill()
            if self._tokens < 1:
                await self._sleep((1 - self._tokens) / self.rate)
                self._refill()
            self._tokens -= 1

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self._capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now


class RateLimitedTransport(httpx.AsyncBaseTransport):
    """``inner`` (an ordinary HTTP transport by default), each request after a token."""

    def __init__(self, bucket: TokenBucket, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self._bucket = bucket
        self._inner = inner or httpx.AsyncHTTPTransport()

    async def acquire(self) -> None:
        """Take a token for a request sent outside httpx (the blob stream's aiohttp)."""
        await self._bucket.acquire()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await self._bucket.acquire()
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()
