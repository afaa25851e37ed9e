"""``tagtrail auth token REF [-H]``: a pull token for a repository, as ``crane auth token``."""

from __future__ import annotations

import argparse
from typing import Any

from tagtrail.cli.client_common import connection_options, one_line_errors, session_pool
from tagtrail.client.errors import AuthError
from tagtrail.client.reference import parse_reference
from tagtrail.client.session import pull_scope, push_scope


def register(commands: Any) -> None:
    auth = commands.add_parser("auth", help="registry tokens")
    verbs = auth.add_subparsers(dest="verb", required=True)
    parser: argparse.ArgumentParser = verbs.add_parser(
        "token",
        parents=[connection_options()],
        help="print a token for a repository",
        description="Print a bearer token for REF's repository from the registry's token "
        "service, with the credentials docker would use (anonymous without any).",
    )
    parser.add_argument("reference", metavar="REF", help="e.g. cgr.dev/chainguard/python")
    parser.add_argument(
        "-H",
        "--header",
        action="store_true",
        help="print the whole header: Authorization: Bearer <token>",
    )
    parser.add_argument("--push", action="store_true", help="ask for push access too")
    parser.set_defaults(run=one_line_errors(run))


def run(args: argparse.Namespace) -> int:
    reference = parse_reference(args.reference)
    scope = push_scope(reference.repository) if args.push else pull_scope(reference.repository)
    with session_pool(args) as pool:
        session = pool.session(reference)
        token = session.token_for(scope)
    if token is None:
        raise AuthError(f"{session.host} asks for no authentication: there is no token to print")
    print(f"Authorization: Bearer {token}" if args.header else token)
    return 0
