"""``tagtrail logout REGISTRY``: remove the registry's credentials from Docker's config."""

from __future__ import annotations

import argparse
from typing import Any

from tagtrail.cli.client_common import one_line_errors
from tagtrail.client.dockerconfig import DockerConfig
from tagtrail.client.reference import endpoint_for, registry_host


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "logout",
        help="log out of a registry (removes credentials from Docker's config.json)",
        description="Remove REGISTRY's credentials from its credential helper and config.json.",
    )
    parser.add_argument("registry", metavar="REGISTRY", help="host[:port]")
    parser.set_defaults(run=one_line_errors(run))


def run(args: argparse.Namespace) -> int:
    host, scheme = registry_host(args.registry)
    endpoint = endpoint_for(host, scheme=scheme)
    config = DockerConfig.load()
    if config.erase(endpoint.auth_key):
        print(f"Removing login credentials for {endpoint.auth_key}")
    else:
        print(f"Not logged in to {endpoint.auth_key}")
    return 0
