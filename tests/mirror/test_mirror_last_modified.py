"""``Last-Modified`` of pulled-through manifests: by tag the time of the mirror's record of the
move, by digest when the mirror stored it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

import httpx

from tagtrail.clock import now_ms
from tests.mirror.local import add_mirror, mirror_host
from tests.mirror.upstreams import Distribution, push_image


def last_modified(client: httpx.Client, path: str) -> datetime:
    got, head = client.get(path), client.head(path)
    assert got.status_code == head.status_code == 200, got.text
    assert got.headers["last-modified"] == head.headers["last-modified"]
    return parsedate_to_datetime(got.headers["last-modified"])


def newest_record(client: httpx.Client, name: str, tag: str) -> datetime:
    response = client.get(f"/v2/{name}/_chainguard/history/{tag}")
    assert response.status_code == 200, response.text
    stamp = response.json()["history"][-1]["updateTimestamp"]
    moment = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    return moment.replace(microsecond=0)


def second_of(ms: int) -> datetime:
    return datetime.fromtimestamp(ms // 1000, tz=UTC)


def test_pulled_through_manifests_carry_their_times(
    tmp_path: Path, distribution: Distribution, distribution_http: httpx.Client
) -> None:
    repo = f"lm{uuid.uuid4().hex[:10]}/app"
    name = f"dist/{repo}"
    with mirror_host(tmp_path / "data") as host, host.client() as client:
        add_mirror(host.api.data_dir, "dist", distribution.url)
        pushed = push_image(distribution_http, repo, "v1")
        before = now_ms()
        by_tag = last_modified(client, f"/v2/{name}/manifests/v1")  # the first pull fetches
        after = now_ms()
        assert by_tag == newest_record(client, name, "v1")
        assert second_of(before) <= by_tag <= second_of(after)
        by_digest = last_modified(client, f"/v2/{name}/manifests/{pushed.digest}")
        assert second_of(before) <= by_digest <= second_of(after)
        # Moved upstream and seen here: the time of the mirror's record of that move.
        push_image(distribution_http, repo, "v1")
        assert host.check(name, "v1").moved
        assert last_modified(client, f"/v2/{name}/manifests/v1") == newest_record(
            client, name, "v1"
        )
        assert last_modified(client, f"/v2/{name}/manifests/{pushed.digest}") == by_digest
