"""``tagtrail serve``: run the registry (embedded storage unless configured otherwise)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tagtrail.config import CONFIG_ENV, Settings, load_settings

APP_FACTORY = "tagtrail.api.app:app_from_environment"


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "serve",
        help="run the registry",
        description="Run the registry. Settings: flags > TAGTRAIL_* environment > --config TOML.",
    )
    parser.add_argument("--listen", help="host:port to listen on (default 127.0.0.1:5000)")
    parser.add_argument("--data-dir", type=Path, help="embedded storage directory")
    parser.add_argument("--external-url", help="URL clients reach the registry at")
    parser.add_argument("--config", type=Path, help="TOML settings file")
    parser.add_argument("--workers", type=int, help="server worker processes")
    parser.add_argument(
        "--protect-history",
        action="store_true",
        default=None,
        help="refuse deleting manifests that a tag history names",
    )
    parser.set_defaults(run=run)


def _export(settings: Settings) -> None:
    """Workers are separate processes: hand them the resolved settings via the environment."""
    for field, value in settings.model_dump(exclude_none=True).items():
        os.environ[f"TAGTRAIL_{field.upper()}"] = str(value)


def run(args: argparse.Namespace) -> int:
    if args.config is not None:
        if not args.config.is_file():
            print(f"tagtrail: config file not found: {args.config}", file=sys.stderr)
            return 2
        os.environ[CONFIG_ENV] = str(args.config.resolve())
    try:
        settings = load_settings(
            listen=args.listen,
            data_dir=args.data_dir.resolve() if args.data_dir else None,
            external_url=args.external_url,
            workers=args.workers,
            protect_history=args.protect_history,
        )
    except ValidationError as exc:
        print(f"tagtrail: invalid settings:\n{exc}", file=sys.stderr)
        return 2
    settings = settings.model_copy(update={"data_dir": settings.data_dir.resolve()})
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    _export(settings)

    from granian import Granian
    from granian.constants import Interfaces
    from granian.log import LogLevels

    server = Granian(
        APP_FACTORY,
        factory=True,
        interface=Interfaces.ASGI,
        address=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=LogLevels(settings.log_level.lower()),
    )
    url = settings.external_url or f"http://{settings.listen}"
    print(f"tagtrail listening on {url} (data in {settings.data_dir})", flush=True)
    server.serve()
    return 0
