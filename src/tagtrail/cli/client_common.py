"""What the client commands share: connection flags, the session pool, one-line errors."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from tagtrail.client.errors import ClientError
from tagtrail.client.sessions import SessionPool

Action = Callable[[argparse.Namespace], int]


def connection_options() -> argparse.ArgumentParser:
    """A parent parser: ``--plain-http`` and ``--insecure``."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("registry connection")
    group.add_argument(
        "--plain-http",
        action="store_true",
        help="speak HTTP, not HTTPS, to registries (a loopback registry is asked over HTTPS "
        "first and over HTTP when that is all it speaks; an http:// or https:// prefix on a "
        "reference decides for it)",
    )
    group.add_argument(
        "--insecure", action="store_true", help="do not verify registries' TLS certificates"
    )
    return parent


def session_pool(args: argparse.Namespace) -> SessionPool:
    return SessionPool(plain_http=args.plain_http, insecure=args.insecure)


def note(message: str) -> None:
    print(f"tagtrail: note: {message}", file=sys.stderr)


def one_line_errors(action: Action) -> Action:
    """Run ``action``; a ClientError is printed as one line and exits 1, never a traceback."""

    def run(args: argparse.Namespace) -> int:
        try:
            return action(args)
        except ClientError as exc:
            print(f"tagtrail: {exc}", file=sys.stderr)
            return 1
        except BrokenPipeError:
            return 1

    return run
