"""What ``tagtrail admin webhook`` does (its arguments: ``webhook_args``), on the webhook store.

A signing secret comes from standard input only, is sealed with the data directory's credential
key (the mirrors' passwords' key: replicas share it), and is never printed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable

from pydantic import SecretStr

from tagtrail.cli.common import run_on_database, settings_from
from tagtrail.clock import now_ms
from tagtrail.errors import InvalidInput, NotFound, RegistryError
from tagtrail.meta.credentials import CredentialBox, CredentialKeyInvalid
from tagtrail.meta.database import Database
from tagtrail.meta.sql_webhooks import SqlWebhookStore
from tagtrail.meta.webhooks import Delivery, WebhookRecord, checked
from tagtrail.times import format_timestamp

Action = Callable[
    [argparse.Namespace, SqlWebhookStore, Callable[[], CredentialBox]], Awaitable[int]
]


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    if settings is None:
        return 2
    action = ACTIONS[args.action]

    def box() -> CredentialBox:
        try:
            return CredentialBox.load(settings.keys_dir)
        except (CredentialKeyInvalid, OSError) as exc:
            raise RegistryError(str(exc)) from exc

    async def on(database: Database) -> int:
        return await action(args, SqlWebhookStore(database), box)

    return run_on_database(settings, on)


async def webhook_add(
    args: argparse.Namespace, store: SqlWebhookStore, box: Callable[[], CredentialBox]
) -> int:
    actions = None
    if args.actions is not None:
        actions = tuple(a.strip() for a in args.actions.split(",") if a.strip())
    webhook = checked(
        WebhookRecord(args.url, args.format, repos=args.repos, actions=actions, created_ms=now_ms())
    )
    sealed = None
    if args.secret_stdin:
        secret = sys.stdin.readline().rstrip("\n")
        if not secret:
            raise InvalidInput("--secret-stdin: standard input held no secret")
        sealed = box().seal(SecretStr(secret))
    webhook_id = await store.add_webhook(
        WebhookRecord(
            webhook.url,
            webhook.format,
            sealed,
            webhook.repos,
            webhook.actions,
            created_ms=webhook.created_ms,
        )
    )
    print(f"webhook {webhook_id}: {describe(webhook, signed=sealed is not None)}")
    return 0


def describe(webhook: WebhookRecord, *, signed: bool) -> str:
    """The webhook on one line, its secret only as whether there is one."""
    return "  ".join(
        (
            webhook.url,
            webhook.format,
            f"repos {webhook.repos}" if webhook.repos is not None else "all repositories",
            f"actions {','.join(webhook.actions)}" if webhook.actions else "all actions",
            "signed" if signed else "unsigned",
        )
    )


async def webhook_list(
    args: argparse.Namespace, store: SqlWebhookStore, _: Callable[[], CredentialBox]
) -> int:
    for webhook in await store.list_webhooks():
        print(f"{webhook.id}  {describe(webhook, signed=webhook.secret_sealed is not None)}")
    return 0


async def webhook_rm(
    args: argparse.Namespace, store: SqlWebhookStore, _: Callable[[], CredentialBox]
) -> int:
    if not await store.remove_webhook(args.id):
        raise NotFound(f"no webhook {args.id}")
    print(f"removed webhook {args.id}")
    return 0


async def webhook_deliveries(
    args: argparse.Namespace, store: SqlWebhookStore, _: Callable[[], CredentialBox]
) -> int:
    if args.id not in {webhook.id for webhook in await store.list_webhooks()}:
        raise NotFound(f"no webhook {args.id}")
    for delivery in await store.deliveries(args.id, failed_only=args.failed):
        print(describe_delivery(delivery))
    return 0


def describe_delivery(delivery: Delivery) -> str:
    """One line: id, state, the event (id, tag, action, digest), attempts, the last answer."""
    event = delivery.event
    parts = [
        str(delivery.id),
        delivery.state,
        f"event {event.id}",
        f"{event.repository}:{event.tag}",
        event.action if event.event == "created" else f"{event.action} (deleted)",
        event.digest,
        format_timestamp(event.timestamp_ms, timespec="seconds"),
        f"attempts {delivery.attempts}",
    ]
    if delivery.state == "pending" and delivery.attempts:
        parts.append(f"next {format_timestamp(delivery.next_attempt_ms, timespec='seconds')}")
    if delivery.last_error is not None:
        parts.append(f"last: {delivery.last_error}")
    elif delivery.last_status is not None:
        parts.append(f"last: HTTP {delivery.last_status}")
    return "  ".join(parts)


async def webhook_redeliver(
    args: argparse.Namespace, store: SqlWebhookStore, _: Callable[[], CredentialBox]
) -> int:
    if not await store.redeliver(args.delivery, now_ms()):
        raise NotFound(f"no delivery {args.delivery}")
    print(f"delivery {args.delivery} is pending again: the server sends it within a second")
    return 0


ACTIONS: dict[str, Action] = {
    action.__name__: action
    for action in (webhook_add, webhook_list, webhook_rm, webhook_deliveries, webhook_redeliver)
}
