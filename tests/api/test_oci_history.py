"""The draft OCI tag history: /v2/<name>/_oci/tag-history/<tag>."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import httpx
import pytest

from tests.api.helpers import (
    OCI_INDEX,
    OCI_MANIFEST,
    TIMESTAMP_RE,
    Pushed,
    assert_oci_error,
    next_link,
    push_image,
    push_manifest,
    random_bytes,
    repo,
    sha256,
)

TIMESTAMP = "org.opencontainers.distribution.tag.timestamp"
EVENT = "org.opencontainers.distribution.tag.event"


def url(name: str, tag: str) -> str:
    return f"/v2/{name}/_oci/tag-history/{tag}"


def entries_of(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].split(";")[0] == OCI_INDEX
    body: dict[str, Any] = response.json()
    assert body["schemaVersion"] == 2
    assert body.get("mediaType", OCI_INDEX) == OCI_INDEX
    entries: list[dict[str, Any]] = body["manifests"]
    for entry in entries:
        assert {"mediaType", "size", "digest", "annotations"} <= set(entry), entry
        assert TIMESTAMP_RE.fullmatch(entry["annotations"][TIMESTAMP]), entry
        assert entry["annotations"][EVENT] in ("created", "deleted"), entry
    return entries


def tag_history(
    client: httpx.Client, name: str, tag: str, **params: str
) -> tuple[list[dict[str, Any]], httpx.Response]:
    response = client.get(url(name, tag), params=params)
    return entries_of(response), response


def stamp(entry: dict[str, Any]) -> datetime:
    text: str = entry["annotations"][TIMESTAMP]
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def iso(moment: datetime, micro: bool = False) -> str:
    text = moment.isoformat(timespec="microseconds" if micro else "milliseconds")
    return text.replace("+00:00", "Z")


@dataclass
class Events:
    name: str
    tag: str
    images: list[Pushed]
    # What happened, oldest first: (event, image).
    expected: list[tuple[str, Pushed]]
    entries: list[dict[str, Any]]  # the full answer, newest first


@pytest.fixture
def events(client: httpx.Client) -> Events:
    name, tag = repo("ocih"), "stable"
    a, b, c = (push_image(client, name) for _ in range(3))
    push_manifest(client, name, tag, a.body)
    push_manifest(client, name, tag, b.body)
    push_manifest(client, name, tag, b.body)  # same digest: nothing recorded
    assert client.delete(f"/v2/{name}/manifests/{tag}").status_code == 202
    push_manifest(client, name, tag, c.body)
    push_manifest(client, name, tag, a.body)
    expected = [("created", a), ("created", b), ("deleted", b), ("created", c), ("created", a)]
    entries, response = tag_history(client, name, tag)
    assert next_link(response) is None
    return Events(name, tag, [a, b, c], expected, entries)


def test_entries_newest_first_with_deletions(events: Events) -> None:
    got = [(e["annotations"][EVENT], e["digest"]) for e in events.entries]
    assert got == [(event, image.digest) for event, image in reversed(events.expected)]
    stamps = [stamp(e) for e in events.entries]
    assert all(a > b for a, b in pairwise(stamps)), stamps


def test_entries_describe_the_manifest(events: Events) -> None:
    by_digest = {image.digest: image for image in events.images}
    for entry in events.entries:
        image = by_digest[entry["digest"]]
        assert entry["mediaType"] == OCI_MANIFEST
        assert entry["size"] == len(image.body)


def test_timestamps_are_recent(events: Events) -> None:
    now = datetime.now(UTC)
    for entry in events.entries:
        assert now - timedelta(minutes=5) < stamp(entry) < now + timedelta(minutes=5)


def test_n_zero_is_empty_without_link(client: httpx.Client, events: Events) -> None:
    entries, response = tag_history(client, events.name, events.tag, n="0")
    assert entries == []
    assert next_link(response) is None


def test_n_limits_and_links(client: httpx.Client, events: Events) -> None:
    for n in (1, 2, 3, 4):
        entries, response = tag_history(client, events.name, events.tag, n=str(n))
        assert entries == events.entries[:n]
        collected = list(entries)
        pages = 1
        link = next_link(response)
        while link is not None:
            page = client.get(link)
            more = entries_of(page)
            assert 0 < len(more) <= n
            collected += more
            pages += 1
            assert pages <= len(events.entries)
            link = next_link(page)
        assert collected == events.entries  # every entry exactly once, newest first


def test_n_at_least_total_has_no_link(client: httpx.Client, events: Events) -> None:
    for n in (len(events.entries), 100):
        entries, response = tag_history(client, events.name, events.tag, n=str(n))
        assert entries == events.entries
        assert next_link(response) is None


@pytest.mark.parametrize("n", ["-1", "abc", "\u00b2"])
def test_bad_n_is_400(client: httpx.Client, events: Events, n: str) -> None:
    response = client.get(url(events.name, events.tag), params={"n": n})
    assert_oci_error(response, 400, "PAGINATION_NUMBER_INVALID")


def test_before_is_strict(client: httpx.Client, events: Events) -> None:
    entries = events.entries
    at = entries[1]["annotations"][TIMESTAMP]
    assert tag_history(client, events.name, events.tag, before=at)[0] == entries[2:]


def test_since_is_strict(client: httpx.Client, events: Events) -> None:
    entries = events.entries
    at = entries[3]["annotations"][TIMESTAMP]
    assert tag_history(client, events.name, events.tag, since=at)[0] == entries[:3]


def test_before_and_since_together(client: httpx.Client, events: Events) -> None:
    entries = events.entries
    before = entries[0]["annotations"][TIMESTAMP]
    since = entries[4]["annotations"][TIMESTAMP]
    got = tag_history(client, events.name, events.tag, before=before, since=since)[0]
    assert got == entries[1:4]


def test_since_with_paging(client: httpx.Client, events: Events) -> None:
    since = events.entries[4]["annotations"][TIMESTAMP]
    entries, response = tag_history(client, events.name, events.tag, since=since, n="2")
    assert entries == events.entries[:2]
    link = next_link(response)
    assert link is not None
    page = client.get(link)
    assert entries_of(page) == events.entries[2:4]
    assert next_link(page) is None


def test_digest_filter(client: httpx.Client, events: Events) -> None:
    a, b, c = events.images
    for image in (a, b, c):
        got = tag_history(client, events.name, events.tag, digest=image.digest)[0]
        assert got == [e for e in events.entries if e["digest"] == image.digest]
    assert len(tag_history(client, events.name, events.tag, digest=a.digest)[0]) == 2
    unknown = sha256(random_bytes())
    assert tag_history(client, events.name, events.tag, digest=unknown)[0] == []


def test_digest_filter_survives_paging(client: httpx.Client, events: Events) -> None:
    a = events.images[0]
    wanted = [e for e in events.entries if e["digest"] == a.digest]
    entries, response = tag_history(client, events.name, events.tag, digest=a.digest, n="1")
    assert entries == wanted[:1]
    link = next_link(response)
    assert link is not None
    page = client.get(link)
    assert entries_of(page) == wanted[1:]
    assert next_link(page) is None


def test_point_in_time(client: httpx.Client, events: Events) -> None:
    """before=<T plus an instant>&n=1 is the newest entry at or before T."""
    for i, entry in enumerate(events.entries):
        moment = stamp(entry)
        for later in (timedelta(microseconds=1), timedelta(microseconds=500)):
            got, response = tag_history(
                client, events.name, events.tag, before=iso(moment + later, micro=True), n="1"
            )
            assert got == [entry]
            assert (next_link(response) is not None) == (i < len(events.entries) - 1)
        got = tag_history(
            client, events.name, events.tag, before=iso(moment + timedelta(milliseconds=1)), n="1"
        )[0]
        assert got == [entry]


def test_point_in_time_before_anything(client: httpx.Client, events: Events) -> None:
    oldest = stamp(events.entries[-1])
    got = tag_history(client, events.name, events.tag, before=iso(oldest), n="1")[0]
    assert got == []


def test_point_in_time_between_events(client: httpx.Client, events: Events) -> None:
    newer, older = stamp(events.entries[1]), stamp(events.entries[2])
    if newer - older > timedelta(milliseconds=1):
        middle = older + (newer - older) / 2
        got = tag_history(client, events.name, events.tag, before=iso(middle, True), n="1")[0]
        assert got == [events.entries[2]]


def test_unknown_repository_or_tag_is_empty(client: httpx.Client, events: Events) -> None:
    assert tag_history(client, repo("ocih"), "latest")[0] == []
    assert tag_history(client, events.name, "never-existed")[0] == []


def test_bad_timestamp_is_400(client: httpx.Client, events: Events) -> None:
    assert_oci_error(client.get(url(events.name, events.tag), params={"before": "soon"}), 400)
    assert_oci_error(client.get(url(events.name, events.tag), params={"since": "2023-99-01"}), 400)


def test_bad_digest_is_400(client: httpx.Client, events: Events) -> None:
    response = client.get(url(events.name, events.tag), params={"digest": "sha256:xyz"})
    assert_oci_error(response, 400, "DIGEST_INVALID")


def test_delete_by_digest_records_deletion_of_every_tag(client: httpx.Client) -> None:
    name = repo("ocih")
    image = push_image(client, name, "one")
    push_manifest(client, name, "two", image.body)
    assert client.delete(f"/v2/{name}/manifests/{image.digest}").status_code == 202
    for tag in ("one", "two"):
        entries = tag_history(client, name, tag)[0]
        got = [(e["annotations"][EVENT], e["digest"]) for e in entries]
        assert got == [("deleted", image.digest), ("created", image.digest)]
