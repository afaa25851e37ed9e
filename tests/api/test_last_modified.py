"""``Last-Modified`` on manifest GET and HEAD (what update bots read as a release's age): by tag
the time the tag moved to its current digest, as its history record says; by digest the time
the digest was stored in the repository. An HTTP-date (RFC 9110), to the second.

The in-process registry runs on SQLite, whose clock is the process's: the tests set it
(``tagtrail.meta.database.now_ms``, which stamps history records there, and the manifest
store's, which stamps stored manifests), so that moves land in seconds of their choosing."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx
import pytest

from tests.api.helpers import push_image, push_manifest, repo

# 2023-11-14T22:13:20.250Z, and moves some seconds (and a fraction) later.
T0 = 1_700_000_000_250
HTTP_DATE_RE = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT"
)


@dataclass
class Clock:
    ms: int

    def __call__(self) -> int:
        return self.ms


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    set_clock = Clock(T0)
    monkeypatch.setattr("tagtrail.meta.database.now_ms", set_clock)
    monkeypatch.setattr("tagtrail.meta.sql_manifests.now_ms", set_clock)
    return set_clock


def second_of(ms: int) -> datetime:
    return datetime.fromtimestamp(ms // 1000, tz=UTC)


def last_modified(response: httpx.Response) -> datetime:
    assert response.status_code == 200, response.text
    value = response.headers["last-modified"]
    assert HTTP_DATE_RE.fullmatch(value), value
    moment = parsedate_to_datetime(value)
    assert moment.tzinfo is not None and moment.utcoffset() == UTC.utcoffset(None)
    return moment


def both(client: httpx.Client, name: str, reference: str) -> datetime:
    """Last-Modified of GET and of HEAD, which must agree."""
    got = client.get(f"/v2/{name}/manifests/{reference}")
    head = client.head(f"/v2/{name}/manifests/{reference}")
    assert head.content == b""
    assert got.headers["last-modified"] == head.headers["last-modified"]
    return last_modified(got)


def newest_record(client: httpx.Client, name: str, tag: str) -> datetime:
    """The second of the tag's newest record, as the Tag History API gives it."""
    response = client.get(f"/v2/{name}/_chainguard/history/{tag}")
    assert response.status_code == 200, response.text
    stamp = response.json()["history"][-1]["updateTimestamp"]
    moment = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    return moment.replace(microsecond=0)


def test_by_tag_the_time_of_the_move_and_it_follows_the_tag(
    client: httpx.Client, clock: Clock
) -> None:
    name = repo("last-modified")
    push_image(client, name, "v1")
    first = both(client, name, "v1")
    assert first == newest_record(client, name, "v1") == second_of(T0)
    # Pushed again unchanged: no move, the time stays.
    clock.ms = T0 + 30_000
    body = client.get(f"/v2/{name}/manifests/v1").content
    push_manifest(client, name, "v1", body)
    assert both(client, name, "v1") == first
    clock.ms = T0 + 90_600
    push_image(client, name, "v1")
    moved = both(client, name, "v1")
    assert moved == newest_record(client, name, "v1") == second_of(T0 + 90_600)
    assert moved != first


def test_by_digest_the_time_it_was_first_stored(client: httpx.Client, clock: Clock) -> None:
    name = repo("last-modified")
    pushed = push_image(client, name)  # by digest, untagged
    assert both(client, name, pushed.digest) == second_of(T0)
    # Tagged two minutes later: by tag the move, by digest still when it was stored.
    clock.ms = T0 + 120_000
    push_manifest(client, name, "later", pushed.body)
    assert both(client, name, "later") == newest_record(client, name, "later")
    assert both(client, name, "later") == second_of(T0 + 120_000)
    assert both(client, name, pushed.digest) == second_of(T0)


def test_the_http_date_of_a_move_is_cut_to_its_second(client: httpx.Client, clock: Clock) -> None:
    """Never rounded up: a Last-Modified after the response's own time is not allowed."""
    name = repo("last-modified")
    clock.ms = T0 - 250 + 999  # 22:13:20.999
    push_image(client, name, "cut")
    got = client.get(f"/v2/{name}/manifests/cut")
    assert got.headers["last-modified"] == "Tue, 14 Nov 2023 22:13:20 GMT"
