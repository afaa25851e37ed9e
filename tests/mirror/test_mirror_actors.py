"""A mirror's records name the mirror as their actor (``mirror:<prefix>``), with action
``mirror`` for what it saw upstream and ``import`` for the upstream's own history."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx

from tests.mirror.conftest import UPSTREAM_ORG
from tests.mirror.local import add_mirror, mirror_host
from tests.mirror.test_import import oci
from tests.mirror.upstreams import Distribution, push_image
from tests.server import RunningServer

ACTION = "dev.tagtrail.action"
ACTOR = "dev.tagtrail.actor"


def who(client: httpx.Client, name: str, tag: str) -> list[tuple[str, str, str]]:
    """(event, action, actor) of each record, newest first (auth is off: all are shown)."""
    return [
        (
            e["annotations"]["org.opencontainers.distribution.tag.event"],
            e["annotations"][ACTION],
            e["annotations"][ACTOR],
        )
        for e in oci(client, name, tag)
    ]


def test_mirrored_moves_and_deletions_name_the_mirror(
    tmp_path: Path, distribution: Distribution, distribution_http: httpx.Client
) -> None:
    repo = f"act{uuid.uuid4().hex[:10]}/app"
    with mirror_host(tmp_path / "data") as host, host.client() as client:
        add_mirror(host.api.data_dir, "dist", distribution.url)
        push_image(distribution_http, repo, "v1")
        assert host.check(f"dist/{repo}", "v1").moved
        moved = push_image(distribution_http, repo, "v1")
        assert host.check(f"dist/{repo}", "v1").moved
        deleted = distribution_http.delete(f"/v2/{repo}/manifests/{moved.digest}")
        assert deleted.status_code == 202, deleted.text
        assert host.check(f"dist/{repo}", "v1").moved
        assert who(client, f"dist/{repo}", "v1") == [
            ("deleted", "mirror", "mirror:dist"),
            ("created", "mirror", "mirror:dist"),
            ("created", "mirror", "mirror:dist"),
        ]


def test_imported_records_name_the_mirror(
    tmp_path: Path, auth_upstream: RunningServer, auth_upstream_http: httpx.Client
) -> None:
    upstream_name = f"{UPSTREAM_ORG}/act-{uuid.uuid4().hex[:10]}"
    for _ in range(2):
        push_image(auth_upstream_http, upstream_name, "v1")
    with mirror_host(tmp_path / "data") as host, host.client() as client:
        add_mirror(host.api.data_dir, "m", auth_upstream.url, as_admin=True)
        assert host.check(f"m/{upstream_name}", "v1").moved
        assert who(client, f"m/{upstream_name}", "v1") == [
            ("created", "import", "mirror:m"),
            ("created", "import", "mirror:m"),
        ]
