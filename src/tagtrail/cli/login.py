"""``tagtrail login REGISTRY``: check credentials and store them in Docker's ``config.json``."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from tagtrail.cli.client_common import connection_options, note, one_line_errors
from tagtrail.client.dockerconfig import Credentials, DockerConfig
from tagtrail.client.errors import UsageError
from tagtrail.client.reference import endpoint_for, registry_host
from tagtrail.client.session import RegistrySession


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "login",
        parents=[connection_options()],
        help="log in to a registry (stores credentials in Docker's config.json)",
        description="Check the credentials against REGISTRY's token service and store them "
        "where docker would: its credential helper when config.json names one (credHelpers, "
        "credsStore), else its auths entry. $DOCKER_CONFIG chooses the directory.",
    )
    parser.add_argument("registry", metavar="REGISTRY", help="host[:port]")
    parser.add_argument("-u", "--username", help="user name (asked for on a terminal)")
    secret = parser.add_mutually_exclusive_group()
    secret.add_argument("-p", "--password", help="password (prefer --password-stdin)")
    secret.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    parser.set_defaults(run=one_line_errors(run))


def _ask(args: argparse.Namespace) -> tuple[str, str]:
    username = args.username
    if not username:
        if not sys.stdin.isatty() or args.password_stdin:
            raise UsageError("give the user name with --username")
        username = input("Username: ").strip()
    if args.password_stdin:
        password = sys.stdin.read().rstrip("\r\n")
    elif args.password is not None:
        note("a password on the command line is visible to other users; use --password-stdin")
        password = args.password
    elif sys.stdin.isatty():
        password = getpass.getpass("Password: ")
    else:
        raise UsageError("give the password with --password-stdin")
    if not username or not password:
        raise UsageError("a user name and a password are required")
    return username, password


def run(args: argparse.Namespace) -> int:
    host, scheme = registry_host(args.registry)
    endpoint = endpoint_for(host, scheme=scheme, plain_http=args.plain_http)
    config = DockerConfig.load()
    username, password = _ask(args)
    given = Credentials(username, password, source="the command line")
    with RegistrySession(endpoint, lambda: given, verify=not args.insecure) as session:
        checked = session.check_login()
    if not checked:
        note(f"{endpoint.host} asks for no authentication; the credentials were not checked")
    where = config.store(endpoint.auth_key, username, password)
    print(f"Login Succeeded (credentials for {endpoint.auth_key} stored in {where})")
    return 0
