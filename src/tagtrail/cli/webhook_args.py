"""``tagtrail admin webhook``: the commands and their arguments (what they do:
``webhook_actions``, imported only when one runs)."""

from __future__ import annotations

import argparse
from typing import Any

from tagtrail.meta.webhooks import ACTIONS, FORMATS


def register(webhooks: Any, command: Any) -> None:
    """The ``webhook`` verbs under ``admin``; ``command`` is admin's (``admin KIND NAME``)."""
    add = command(
        webhooks,
        "webhook",
        "add",
        "send every tag move, deletion and restore to a URL (signed with --secret-stdin)",
    )
    add.add_argument("url", help="the receiver, e.g. https://hooks.example.com/tagtrail")
    add.add_argument(
        "--format",
        choices=FORMATS,
        default="cloudevents",
        help="CloudEvents 1.0 JSON, or Distribution's notification envelope (default: cloudevents)",
    )
    add.add_argument(
        "--secret-stdin",
        action="store_true",
        help="read a signing secret from standard input: each request then carries "
        "X-Tagtrail-Signature: sha256=<HMAC-SHA256 of the body> (stored sealed, never shown)",
    )
    add.add_argument(
        "--repos", metavar="GLOB", help="only repositories this glob matches, e.g. acme/*"
    )
    add.add_argument(
        "--actions",
        metavar="ACTION,...",
        help=f"only these actions, some of {','.join(ACTIONS)} (default: all)",
    )
    command(webhooks, "webhook", "list", "list webhooks (never their secrets)")
    command(webhooks, "webhook", "rm", "remove a webhook and its deliveries").add_argument(
        "id", type=int, help="the webhook's id, as `webhook list` shows it"
    )
    deliveries = command(
        webhooks, "webhook", "deliveries", "list a webhook's deliveries, newest first"
    )
    deliveries.add_argument("id", type=int, help="the webhook's id")
    deliveries.add_argument(
        "--failed", action="store_true", help="only those given up on (failed for good)"
    )
    command(
        webhooks, "webhook", "redeliver", "send a delivery again (a failed one, say), now"
    ).add_argument("delivery", type=int, help="the delivery's id, as `deliveries` shows it")
    for parser in webhooks.choices.values():
        parser.set_defaults(run=_run_webhook)


def _run_webhook(args: argparse.Namespace) -> int:
    from tagtrail.cli.webhook_actions import run

    return run(args)
