"""The first check of a mirrored tag imports the upstream's own history, with the upstream's
timestamps, marked as imported; later moves are recorded as seen, between two checks; an
upstream without a history API imports nothing."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx

from tagtrail.clock import now_ms
from tagtrail.times import format_timestamp
from tests.mirror.conftest import UPSTREAM_ORG
from tests.mirror.faults import Fault, fault_proxy
from tests.mirror.local import add_mirror, mirror_host
from tests.mirror.test_upstream_history import moved_and_deleted
from tests.mirror.upstreams import OCI_MANIFEST, Distribution, push_image
from tests.server import RunningServer

TIMESTAMP = "org.opencontainers.distribution.tag.timestamp"
ORIGIN = "dev.tagtrail.origin"
MOVED_AFTER = "dev.tagtrail.moved-after"
EVENT = "org.opencontainers.distribution.tag.event"
# Who and how: auth is off on the mirror, so every caller is told.
ACTION, ACTOR = "dev.tagtrail.action", "dev.tagtrail.actor"
PREVIOUS = "dev.tagtrail.previous"


def chainguard(client: httpx.Client, name: str, tag: str) -> httpx.Response:
    response = client.get(f"/v2/{name}/_chainguard/history/{tag}")
    assert response.status_code == 200, response.text
    return response


def oci(client: httpx.Client, name: str, tag: str) -> list[dict[str, Any]]:
    response = client.get(f"/v2/{name}/_oci/tag-history/{tag}")
    assert response.status_code == 200, response.text
    manifests: list[dict[str, Any]] = response.json()["manifests"]
    return manifests


def compact(document: object) -> bytes:
    """JSON as the registry writes it (Starlette's JSONResponse)."""
    return json.dumps(document, separators=(",", ":")).encode()


def test_first_check_imports_the_upstream_history_then_records_moves(
    tmp_path: Path, auth_upstream: RunningServer, auth_upstream_http: httpx.Client
) -> None:
    upstream_name = f"{UPSTREAM_ORG}/imp-{uuid.uuid4().hex[:10]}"
    pushed = [push_image(auth_upstream_http, upstream_name, "v1") for _ in range(3)]
    upstream_history = chainguard(auth_upstream_http, upstream_name, "v1").json()["history"]
    assert [r["digest"] for r in upstream_history] == [p.digest for p in pushed]
    local = f"m/{upstream_name}"
    with mirror_host(tmp_path / "data") as host, host.client() as client:
        add_mirror(host.api.data_dir, "m", auth_upstream.url, as_admin=True)
        first = host.check(local, "v1")
        assert first.moved and first.unavailable is None and first.checked_ms is not None
        assert str(first.digest) == pushed[-1].digest
        # The upstream's three records, with its timestamps: history starts before the mirror.
        assert chainguard(client, local, "v1").content == compact({"history": upstream_history})
        entries = oci(client, local, "v1")[::-1]
        assert [e["digest"] for e in entries] == [p.digest for p in pushed]
        assert [e["annotations"][TIMESTAMP] for e in entries] == [
            r["updateTimestamp"] for r in upstream_history
        ]
        assert all(e["annotations"][ORIGIN] == "import" for e in entries)
        assert not any(MOVED_AFTER in e["annotations"] for e in entries)
        # The current manifest was fetched: its descriptor is whole. The older ones were not
        # (the upstream's history names them only): unknown media type and size.
        assert (entries[-1]["mediaType"], entries[-1]["size"]) == (
            OCI_MANIFEST,
            len(pushed[-1].manifest),
        )
        assert [(e["mediaType"], e["size"]) for e in entries[:2]] == [("", 0), ("", 0)]
        # The tag pulls, as the upstream serves it.
        manifest = client.get(f"/v2/{local}/manifests/v1", headers={"Accept": OCI_MANIFEST})
        assert manifest.status_code == 200 and manifest.content == pushed[-1].manifest

        # An unchanged tag records nothing; a move upstream is seen at the next check.
        unchanged = host.check(local, "v1")
        assert not unchanged.moved
        before_move = unchanged.checked_ms
        fourth = push_image(auth_upstream_http, upstream_name, "v1")
        seen = host.check(local, "v1")
        assert seen.moved and str(seen.digest) == fourth.digest and seen.checked_ms is not None
        assert before_move is not None
        entries = oci(client, local, "v1")
        assert len(entries) == 4  # not imported again
        newest = entries[0]
        assert newest["digest"] == fourth.digest
        # Seen during the check that started at checked_ms (when the move was written).
        seen_at = newest["annotations"][TIMESTAMP]
        assert format_timestamp(seen.checked_ms) <= seen_at <= format_timestamp(now_ms())
        assert newest["annotations"] == {
            TIMESTAMP: seen_at,
            EVENT: "created",
            ORIGIN: "mirror",
            MOVED_AFTER: format_timestamp(before_move),
            ACTION: "mirror",
            ACTOR: "mirror:m",
            PREVIOUS: pushed[-1].digest,
        }
        assert (newest["mediaType"], newest["size"]) == (OCI_MANIFEST, len(fourth.manifest))
        # _chainguard/history keeps its wire format: the observation time, nothing more.
        moved = {"updateTimestamp": seen_at, "digest": fourth.digest}
        assert chainguard(client, local, "v1").content == compact(
            {"history": [*upstream_history, moved]}
        )


def test_an_upstream_without_history_api_imports_nothing(
    tmp_path: Path, distribution: Distribution, distribution_http: httpx.Client
) -> None:
    name = f"lib/imp-{uuid.uuid4().hex[:10]}"
    image = push_image(distribution_http, name, "v1")
    local = f"d/{name}"
    with mirror_host(tmp_path / "data") as host, host.client() as client:
        add_mirror(host.api.data_dir, "d", distribution.url)
        checked = host.check(local, "v1")
        assert checked.moved and checked.checked_ms is not None
        entries = oci(client, local, "v1")
        assert len(entries) == 1
        seen_at = entries[0]["annotations"][TIMESTAMP]
        assert format_timestamp(checked.checked_ms) <= seen_at
        # No check before it: when it moved upstream is unknown, so no moved-after.
        assert (entries[0]["digest"], entries[0]["annotations"]) == (
            image.digest,
            {
                TIMESTAMP: seen_at,
                EVENT: "created",
                ORIGIN: "mirror",
                ACTION: "mirror",
                ACTOR: "mirror:d",
            },
        )
        record = {"updateTimestamp": seen_at, "digest": image.digest}
        assert chainguard(client, local, "v1").content == compact({"history": [record]})


def test_an_oci_history_imports_deletions_as_deletions(
    tmp_path: Path, auth_upstream: RunningServer, auth_upstream_http: httpx.Client
) -> None:
    """From the draft OCI extension (the upstream's _chainguard/history refused): its deletion
    stays a deletion here, and its descriptors' media types and sizes come along."""
    upstream_name = f"{UPSTREAM_ORG}/imp-{uuid.uuid4().hex[:10]}"
    first, second, third = moved_and_deleted(auth_upstream_http, upstream_name)
    upstream = auth_upstream_http.get(f"/v2/{upstream_name}/_oci/tag-history/v1").json()
    local = f"o/{upstream_name}"
    with (
        fault_proxy(auth_upstream.url) as proxy,
        mirror_host(tmp_path / "data") as host,
        host.client() as client,
    ):
        proxy.add(Fault("/_chainguard/history/", "status", status=404))
        add_mirror(host.api.data_dir, "o", proxy.url, as_admin=True)
        checked = host.check(local, "v1")
        assert checked.moved and str(checked.digest) == third.digest
        entries = oci(client, local, "v1")
    # The upstream tells its admin who moved the tag there; here the records are the
    # mirror's imports (the digest before each is the same).
    imported = {ORIGIN: "import", ACTION: "import", ACTOR: "mirror:o"}
    expected = [
        {**entry, "annotations": {**entry["annotations"], **imported}}
        for entry in upstream["manifests"]
    ]
    assert entries == expected
    assert [(e["digest"], e["annotations"][EVENT]) for e in entries[::-1]] == [
        (first.digest, "created"),
        (second.digest, "created"),
        (second.digest, "deleted"),
        (third.digest, "created"),
    ]
