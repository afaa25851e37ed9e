"""``tagtrail restore`` against tagtrail: it uses the restore endpoint, so the move is recorded
as ``restore`` by the caller (a GET and a PUT would read as a push), and a digest the tag never
had is refused by the registry. The fallback to GET+PUT on a registry without the endpoint is
tested against CNCF Distribution (tests/mirror/test_restore_fallback.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.api.helpers import push_image, repo
from tests.cli.helpers import tagtrail
from tests.server import RunningServer

ACTION = "dev.tagtrail.action"
ACTOR = "dev.tagtrail.actor"


def newest(client: httpx.Client, name: str, tag: str) -> dict[str, Any]:
    response = client.get(f"/v2/{name}/_oci/tag-history/{tag}")
    assert response.status_code == 200, response.text
    annotations: dict[str, Any] = response.json()["manifests"][0]["annotations"]
    return annotations


def test_restore_uses_the_endpoint(
    server: RunningServer, client: httpx.Client, tmp_path: Path
) -> None:
    env = {"DOCKER_CONFIG": str(tmp_path)}  # no credentials of the machine's
    name = repo("cli-restore")
    one = push_image(client, name, "prod")
    two = push_image(client, name, "prod")
    ref = f"{server.host}/{name}:prod"
    done = tagtrail("restore", ref, "--to", one.digest, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{ref}: {two.digest} -> {one.digest}\n"
    assert (newest(client, name, "prod")[ACTION], newest(client, name, "prod")[ACTOR]) == (
        "restore",
        "anonymous",  # auth is off
    )
    again = tagtrail("restore", ref, "--to", one.digest, env=env)
    assert again.stdout == f"{ref} already points to {one.digest}\n"
    # A digest stored in the repository but never the tag's: the registry refuses it (a GET
    # and a PUT would have moved the tag there).
    other = push_image(client, name, "other")
    refused = tagtrail("restore", ref, "--to", other.digest, env=env)
    assert refused.returncode == 1
    assert "never pointed to" in refused.stderr and refused.stdout == ""
    head = client.head(f"/v2/{name}/manifests/prod")
    assert head.headers["docker-content-digest"] == one.digest


def test_restore_at_a_time_uses_the_endpoint(
    server: RunningServer, client: httpx.Client, tmp_path: Path
) -> None:
    env = {"DOCKER_CONFIG": str(tmp_path)}
    name = repo("cli-restore")
    one = push_image(client, name, "prod")
    at = newest(client, name, "prod")["org.opencontainers.distribution.tag.timestamp"]
    two = push_image(client, name, "prod")
    ref = f"{server.host}/{name}:prod"
    done = tagtrail("restore", ref, "--at", at, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{ref}: {two.digest} -> {one.digest}\n"
    assert newest(client, name, "prod")[ACTION] == "restore"
    early = tagtrail("restore", ref, "--at", "2001-01-01", env=env)
    assert early.returncode == 1 and "did not exist at" in early.stderr
