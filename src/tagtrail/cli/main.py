"""Entry point: dispatches to one module per subcommand."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from tagtrail import __version__
from tagtrail.cli import admin, auth_token, db, gc, history, login, logout, pin, restore, serve


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tagtrail",
        description="An OCI registry that remembers every digest each tag has pointed to.",
    )
    parser.add_argument("--version", action="version", version=f"tagtrail {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve.register(commands)
    admin.register(commands)
    history.register(commands)
    pin.register(commands)
    restore.register(commands)
    auth_token.register(commands)
    login.register(commands)
    logout.register(commands)
    db.register(commands)
    gc.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.run(args)
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
