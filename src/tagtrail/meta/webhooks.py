"""The webhook-store protocol, and the rules of webhooks and their deliveries.

A webhook subscribes a URL to tag events: every move, deletion and restore of a tag whose
repository matches its ``repos`` glob (all when None) and whose action is one of its
``actions`` (all when None). When a tag moves, the transaction that writes the history record
also writes the event (the outbox, ``webhook_events``) and one pending delivery per webhook
that wants it (``sql_webhooks.record_event``): a crash after the commit loses no event, and a
webhook added later gets only what happens after.

Deliveries are at least once and in order per webhook and tag: a delivery is due only when no
earlier delivery of the same webhook and tag is still pending (delivered or failed for good
lets the next go). A sender takes a lease on the delivery before it sends (several workers and
replicas share the table), and a failed attempt is retried after ``retry_delay_ms`` until the
delivery has been pending for the give-up age; then it is ``failed`` (``redeliver`` makes it
pending again). Signing secrets are sealed (``meta.credentials``) before they reach the store;
the store never holds one in the clear.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Literal, Protocol
from urllib.parse import urlsplit

from tagtrail.errors import InvalidInput

Format = Literal["cloudevents", "distribution"]
FORMATS: tuple[Format, ...] = ("cloudevents", "distribution")
# The actions an event may have (``types.MoveBy``); imports record the upstream's own past
# and are no events.
ACTIONS = ("push", "delete", "restore", "mirror")
State = Literal["pending", "delivered", "failed"]
PENDING: State = "pending"
DELIVERED: State = "delivered"
FAILED: State = "failed"


@dataclass(frozen=True)
class WebhookRecord:
    url: str
    format: Format = "cloudevents"
    # The signing secret sealed by ``meta.credentials`` (never the secret itself).
    secret_sealed: str | None = field(default=None, repr=False)
    repos: str | None = None  # a glob of repository names (``*`` spans ``/``)
    actions: tuple[str, ...] | None = None
    id: int = 0
    created_ms: int = 0

    def wants(self, repository: str, action: str) -> bool:
        return wants(self.repos, self.actions, repository, action)


def wants(repos: str | None, actions: tuple[str, ...] | None, repository: str, action: str) -> bool:
    """Whether a webhook with these filters gets an event of ``repository`` and ``action``."""
    if actions is not None and action not in actions:
        return False
    return repos is None or fnmatch.fnmatchcase(repository, repos)


def checked(webhook: WebhookRecord) -> WebhookRecord:
    """``webhook`` when it can be registered; InvalidInput, in words, when it cannot."""
    try:
        url = urlsplit(webhook.url)
        valid = url.scheme in ("http", "https") and bool(url.hostname) and url.port != 0
    except ValueError:  # a port that is no number, a bad IPv6 address
        valid = False
    # Credentials in the URL would be shown by `webhook list` and in logs: refused.
    if not valid or url.username is not None or url.password is not None:
        raise InvalidInput(
            "webhook URL: http(s)://host[:port]/path with no user or password in it "
            "(sign requests with --secret-stdin instead)"
        )
    if webhook.format not in FORMATS:
        raise InvalidInput(f"webhook format: one of {', '.join(FORMATS)}")
    if webhook.actions is not None:
        unknown = sorted(set(webhook.actions) - set(ACTIONS))
        if unknown or not webhook.actions:
            raise InvalidInput(
                f"webhook actions: some of {','.join(ACTIONS)}"
                + (f" (not {', '.join(unknown)})" if unknown else "")
            )
    if webhook.repos is not None and not webhook.repos.strip():
        raise InvalidInput("webhook repos: a glob such as acme/* (or leave it out: all)")
    return webhook


@dataclass(frozen=True)
class Event:
    """One tag event as the outbox holds it. ``event``: "created" (moved) or "deleted"."""

    id: str
    repository: str
    tag: str
    timestamp_ms: int
    event: str
    action: str
    actor: str | None
    digest: str
    previous: str | None
    media_type: str
    size: int


@dataclass(frozen=True)
class Delivery:
    """One webhook's delivery of one event, as ``webhook deliveries`` lists it."""

    id: int
    webhook_id: int
    event: Event
    state: State
    attempts: int
    since_ms: int
    next_attempt_ms: int
    last_status: int | None
    last_error: str | None
    done_ms: int | None


@dataclass(frozen=True)
class Claimed:
    """A delivery whose lease a sender holds, with the webhook it goes to."""

    delivery: Delivery
    webhook: WebhookRecord


def retry_delay_ms(attempts: int, base_ms: int, cap_ms: int) -> int:
    """The wait after the ``attempts``-th failed attempt: base, twice that, four times...,
    at most ``cap_ms``."""
    return int(min(cap_ms, base_ms * 2 ** min(attempts - 1, 40)))


class WebhookStore(Protocol):
    async def add_webhook(self, webhook: WebhookRecord) -> int:
        """Register ``webhook`` (checked already); its id."""

    async def list_webhooks(self) -> list[WebhookRecord]: ...
    async def remove_webhook(self, webhook_id: int) -> bool:
        """Forget the webhook and its deliveries; False when there is none."""

    async def deliveries(
        self, webhook_id: int, *, failed_only: bool = False, limit: int = 1000
    ) -> list[Delivery]:
        """The webhook's deliveries, newest first."""

    async def redeliver(self, delivery_id: int, now_ms: int) -> bool:
        """Make a delivery pending again, due now, its attempts and give-up age starting over;
        False when there is none."""

    async def claim_deliveries(
        self, owner: str, now_ms: int, lease_ms: int, limit: int
    ) -> list[Claimed]:
        """Take the lease of up to ``limit`` due deliveries: pending, their next attempt
        reached, no lease held, and no earlier pending delivery of the same webhook and tag.
        Of several owners racing for one delivery exactly one gets it."""

    async def finish_delivery(
        self,
        delivery_id: int,
        owner: str,
        *,
        state: State,
        now_ms: int,
        next_attempt_ms: int,
        status: int | None,
        error: str | None,
    ) -> bool:
        """Record an attempt and release the lease, when ``owner`` still holds it."""
