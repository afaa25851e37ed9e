"""Webhook delivery: the loop in each server worker that sends the outbox's events.

Every tick (half a second) the loop takes the lease of the deliveries that are due
(``WebhookStore.claim_deliveries``: of all workers of all replicas on one database one gets
each), POSTs them, one request each, and records the answer. Since a due delivery is the
oldest pending one of its webhook and tag, a batch holds at most one per tag, so its requests
go out together and each tag's events still arrive in order. After a batch that sent
something the loop looks again at once (the next events of those tags are due now).

A 2xx answer delivers; anything else (an error status, a redirect, no answer within the
timeout) is retried after ``retry_delay_ms``, until the delivery has been pending for the
give-up age: then it is failed, and the next event of its tag goes. A worker killed mid-request
leaves its lease to expire (timeout + ``LEASE_SLACK_MS``), and another worker sends the event
again: at least once. The secret that signs a webhook's requests is opened only here, for the
signature; neither it nor the body is ever logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable

import httpx

from tagtrail import metrics
from tagtrail.clock import now_ms
from tagtrail.meta.credentials import CredentialBox, CredentialKeyInvalid
from tagtrail.meta.webhooks import (
    DELIVERED,
    FAILED,
    PENDING,
    Claimed,
    WebhookStore,
    retry_delay_ms,
)
from tagtrail.registry.event_formats import request

log = logging.getLogger("tagtrail.webhooks")

TICK_S = 0.5
BATCH = 32
LEASE_SLACK_MS = 30_000
MAX_RETRY_DELAY_MS = 3_600_000


class WebhookLoop:
    def __init__(
        self,
        store: WebhookStore,
        box: CredentialBox,
        source: str,
        *,
        retry_ms: int,
        give_up_ms: int,
        timeout_s: float,
        tick_s: float = TICK_S,
        clock_ms: Callable[[], int] = now_ms,
    ) -> None:
        self.owner = uuid.uuid4().hex  # this worker, as the leases name it
        self._store = store
        self._box = box
        self._source = source
        self._retry_ms = retry_ms
        self._give_up_ms = give_up_ms
        self._lease_ms = int(timeout_s * 1000) + LEASE_SLACK_MS
        self._tick_s = tick_s
        self._clock_ms = clock_ms
        # No redirects: a receiver that moved answers 3xx, which is a failed attempt (the
        # signature would otherwise go wherever it points).
        self._client = httpx.AsyncClient(timeout=timeout_s, follow_redirects=False)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="tagtrail-webhook-loop")

    async def stop(self) -> None:
        """Cancel the loop and wait for it; a delivery cut short keeps its lease until the
        lease expires, and is sent again then (by this or another worker)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._client.aclose()

    async def _run(self) -> None:
        while True:
            try:
                sent = await self.tick()
            except Exception:  # the database away for a moment: the next tick tries again
                log.exception("webhook loop: tick failed")
                sent = 0
            if not sent:
                await asyncio.sleep(self._tick_s)

    async def tick(self) -> int:
        """Send what is due now; how many deliveries were attempted."""
        claimed = await self._store.claim_deliveries(
            self.owner, self._clock_ms(), self._lease_ms, BATCH
        )
        if claimed:
            await asyncio.gather(*(self._deliver(c) for c in claimed))
        return len(claimed)

    async def _deliver(self, claimed: Claimed) -> None:
        delivery, webhook = claimed.delivery, claimed.webhook
        status: int | None = None
        try:
            secret = None
            if webhook.secret_sealed is not None:
                secret = self._box.open(webhook.secret_sealed).get_secret_value()
            post = request(delivery.event, webhook.format, self._source, secret)
            response = await self._client.post(webhook.url, content=post.body, headers=post.headers)
            status = response.status_code
            error = None if 200 <= status < 300 else f"HTTP {status}"
        except CredentialKeyInvalid:
            error = "its secret does not open with this server's credential key"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        now = self._clock_ms()
        attempts = delivery.attempts + 1
        (metrics.WEBHOOK_DELIVERIES if error is None else metrics.WEBHOOK_FAILURES).inc()
        if error is None:
            state, next_ms = DELIVERED, now
        elif now - delivery.since_ms >= self._give_up_ms:
            state, next_ms = FAILED, now
            log.warning(
                "webhook %d: gave up delivering event %s (%s:%s) after %d attempts: %s",
                webhook.id,
                delivery.event.id,
                delivery.event.repository,
                delivery.event.tag,
                attempts,
                error,
            )
        else:
            state = PENDING
            next_ms = now + retry_delay_ms(attempts, self._retry_ms, MAX_RETRY_DELAY_MS)
            log.info(
                "webhook %d: delivery %d failed (%s), attempt %d; next in %d ms",
                webhook.id,
                delivery.id,
                error,
                attempts,
                next_ms - now,
            )
        # Shielded: a shutdown cancelling the loop still records an answer it got.
        await asyncio.shield(
            self._store.finish_delivery(
                delivery.id,
                self.owner,
                state=state,
                now_ms=now,
                next_attempt_ms=next_ms,
                status=status,
                error=error,
            )
        )
