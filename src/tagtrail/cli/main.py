"""Entry point: a table of subcommands, each imported only when it runs (pip's model).

``tagtrail --version`` and a client command's ``--help`` must not pay for the server's
libraries (SQLAlchemy, Alembic, Starlette, Jinja): the top-level parser lists every command
from this table, and only the command named on the command line is imported to build its own
parser. Each command module keeps its top-level imports light and imports heavy things when
it runs.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from typing import NamedTuple

from tagtrail import __version__
from tagtrail.cli.parsing import PARSER, Parser


class Command(NamedTuple):
    module: str  # has ``register(commands)``, which adds the command's parser
    summary: str  # what ``tagtrail --help`` shows; the same as the module registers (tested)


COMMANDS: dict[str, Command] = {
    "serve": Command("tagtrail.cli.serve", "run the registry"),
    "admin": Command("tagtrail.cli.admin", "administer accounts and mirrors (server up or down)"),
    "history": Command("tagtrail.cli.history", "list every digest a tag has pointed to"),
    "pin": Command(
        "tagtrail.cli.pin",
        "pin image references in Dockerfiles, compose files and Kubernetes manifests",
    ),
    "restore": Command("tagtrail.cli.restore", "move a tag back to an earlier digest"),
    "auth": Command("tagtrail.cli.auth_token", "registry tokens"),
    "login": Command(
        "tagtrail.cli.login", "log in to a registry (stores credentials in Docker's config.json)"
    ),
    "logout": Command(
        "tagtrail.cli.logout",
        "log out of a registry (removes credentials from Docker's config.json)",
    ),
    "db": Command("tagtrail.cli.db", "metadata database schema"),
    "gc": Command("tagtrail.cli.gc", "garbage-collect blobs, manifests and upload sessions"),
}


def command_in(argv: Sequence[str]) -> str | None:
    """The subcommand ``argv`` names: its first word that is not an option (the top-level
    options, --help and --version, take no value)."""
    for word in argv:
        if word == "--":
            return None
        if not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def build_parser(command: str | None = None) -> Parser:
    """The parser with ``command`` fully registered (its module imported) and every other
    command present by name and summary only."""
    parser = Parser(
        prog="tagtrail",
        description="An OCI registry that remembers every digest each tag has pointed to.",
    )
    parser.add_argument("--version", action="version", version=f"tagtrail {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, summary) in COMMANDS.items():
        if name == command:
            importlib.import_module(module).register(commands)
        else:
            commands.add_parser(name, help=summary, add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(command_in(arguments))
    args, unknown = parser.parse_known_args(arguments)
    if unknown:
        getattr(args, PARSER, parser).reject(unknown)
    try:
        code: int = args.run(args)
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
