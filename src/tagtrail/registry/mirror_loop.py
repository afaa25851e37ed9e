"""The mirrors' background work in each server worker: watch rounds and the mirrors' status.

Every second the loop looks at the watches and tries to take the lease of each one whose
round is due (``MirrorStateStore.claim_watch``): of all workers of all replicas on one
database exactly one gets it, runs the round and releases it. A round gets its interval as
patience for retries (``registry.mirror_watch``) and a lease longer than that by
``LEASE_SLACK_MS`` for fetches that take long; a worker killed mid-round leaves the lease to
expire, after which another worker takes the watch.

Each mirror's status is checked every check interval of the mirror, and after any round: a
``/v2/`` ping that succeeds says ``ok``, one whose credentials are refused says ``credentials
rejected`` (an upstream down says nothing new). The change is a conditional update, so only the
worker whose write changed the status logs it: one line per change, not per check or worker.
The rounds of a mirror whose credentials are refused are not run until they are accepted.

The watches' upstream clients are the loop's own, every request through one token bucket per
worker (``mirror_requests_per_second``), so that no round (nor several at once) asks an upstream
faster than that.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Coroutine
from functools import partial
from typing import Any

from tagtrail.clock import now_ms
from tagtrail.meta.mirror_state import MirrorStateStore, Watch
from tagtrail.meta.mirrors import CREDENTIALS_REJECTED, OK, MirrorRecord, MirrorStore
from tagtrail.meta.store import ManifestStore
from tagtrail.registry.mirror_sync import MirrorSync
from tagtrail.registry.mirror_upstreams import MirrorUpstreams
from tagtrail.registry.mirror_watch import RoundResult, WatchRound
from tagtrail.upstream.errors import UpstreamError, UpstreamUnauthorized
from tagtrail.upstream.rate_limit import RateLimitedTransport, TokenBucket

log = logging.getLogger("tagtrail.mirror")

TICK_S = 1.0
LEASE_SLACK_MS = 10 * 60 * 1000


class MirrorLoop:
    def __init__(
        self,
        mirrors: MirrorStore,
        state: MirrorStateStore,
        sync: MirrorSync,
        manifests: ManifestStore,
        *,
        requests_per_second: float,
        tick_s: float = TICK_S,
        clock_ms: Callable[[], int] = now_ms,
    ) -> None:
        self.owner = uuid.uuid4().hex  # this worker, as the leases name it
        self._state = state
        self._tick_s = tick_s
        self._clock_ms = clock_ms
        bucket = TokenBucket(requests_per_second)
        self._upstreams = MirrorUpstreams(mirrors, transport=lambda: RateLimitedTransport(bucket))
        self._mirrors = mirrors
        self._rounds = WatchRound(sync, manifests, clock_ms=clock_ms)
        self._next_status: dict[str, int] = {}
        # What this worker found itself, before the mirrors read again (every 2 s) say so.
        self._rejected: set[str] = set()
        self._busy: dict[str, asyncio.Task[None]] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="tagtrail-mirror-loop")

    async def stop(self) -> None:
        """Cancel the loop and every round and check it started, and wait for them: nothing
        of the loop outlives the worker's lifespan (a cancelled round releases its lease)."""
        tasks = [t for t in (self._task, *self._busy.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._busy.clear()
        await self._upstreams.aclose()

    async def _run(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:  # the database away for a moment: the next tick tries again
                log.exception("mirror loop: tick failed")
            await asyncio.sleep(self._tick_s)

    async def tick(self) -> None:
        """Start what is due: status checks, then the rounds this worker gets the lease of."""
        records = await self._upstreams.records()
        now = self._clock_ms()
        for mirror in records.values():
            if now >= self._next_status.get(mirror.prefix, 0):
                self._next_status[mirror.prefix] = now + mirror.check_interval_s * 1000
                self._spawn(f"status {mirror.prefix}", partial(self._check_status, mirror))
        for watch in await self._state.list_watches():
            last = watch.last_round_ms
            if last is not None and last + watch.interval_s * 1000 > now:
                continue  # not due: no claim to write (claim_watch checks again, atomically)
            mirrored = await self._upstreams.lookup(watch.repository)
            if mirrored is None or f"watch {watch.repository}" in self._busy:
                continue  # its mirror was removed; or its round runs here still
            prefix = mirrored.mirror.prefix
            if mirrored.mirror.status == CREDENTIALS_REJECTED or prefix in self._rejected:
                continue  # the status check resumes it once they are accepted
            lease_ms = watch.interval_s * 1000 + LEASE_SLACK_MS
            if await self._state.claim_watch(watch.repository, self.owner, now, lease_ms):
                self._spawn(f"watch {watch.repository}", partial(self._round, watch, now))

    def _spawn(self, key: str, work: Callable[[], Coroutine[Any, Any, None]]) -> None:
        if key in self._busy:
            return
        task = asyncio.create_task(self._logged(key, work), name=f"tagtrail-mirror {key}")
        self._busy[key] = task
        task.add_done_callback(lambda _: self._busy.pop(key, None))

    async def _logged(self, key: str, work: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """``work()``, its failure (a database away for a moment) logged, not left in the task."""
        try:
            await work()
        except Exception:
            log.exception("mirror loop: %s failed", key)

    async def _round(self, watch: Watch, started_ms: int) -> None:
        error: str | None = "interrupted: the worker stopped"
        try:
            mirrored = await self._upstreams.lookup(watch.repository)
            if mirrored is None:
                error = "its mirror was removed"
                return
            upstream = self._upstreams.client(mirrored.mirror)
            result = await self._rounds.run(
                watch, mirrored, upstream, patience_ms=watch.interval_s * 1000
            )
            error = result.error
            await self._note(mirrored.mirror, result)
        except Exception as exc:  # the round's own writes failed: noted, the loop goes on
            log.exception("mirror watch %s: round failed", watch.repository)
            error = f"round failed: {type(exc).__name__}"
        finally:
            # Shielded: a shutdown cancelling the round still releases the lease.
            await asyncio.shield(
                self._state.finish_watch(watch.repository, self.owner, started_ms, error)
            )

    async def _note(self, mirror: MirrorRecord, result: RoundResult) -> None:
        if result.credentials_rejected:
            await self._set_status(mirror, CREDENTIALS_REJECTED, result.error)
        elif result.checked:
            await self._set_status(mirror, OK, None)

    async def _check_status(self, mirror: MirrorRecord) -> None:
        upstream = self._upstreams.client(mirror)
        try:
            await upstream.ping()
        except UpstreamUnauthorized as exc:
            await self._set_status(mirror, CREDENTIALS_REJECTED, str(exc))
        except UpstreamError:
            return  # down or slow: nothing new about the credentials
        else:
            await self._set_status(mirror, OK, None)

    async def _set_status(self, mirror: MirrorRecord, status: str, why: str | None) -> None:
        if status == CREDENTIALS_REJECTED:
            self._rejected.add(mirror.prefix)
        else:
            self._rejected.discard(mirror.prefix)
        if not await self._mirrors.change_mirror_status(mirror.prefix, status):
            return
        if status == CREDENTIALS_REJECTED:
            # The message names the upstream and the answer (upstream.errors), never a secret.
            log.warning(
                "mirror %s: %s refused the credentials (%s); its watches wait until they "
                "are accepted",
                mirror.prefix,
                mirror.url,
                why,
            )
        else:
            log.info("mirror %s: %s answers, status %s", mirror.prefix, mirror.url, status)
