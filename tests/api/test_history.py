"""The Tag History API: /v2/<name>/_chainguard/history/<tag>."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise
from typing import Any

import httpx
import pytest

from tests.api.helpers import (
    OCI_MANIFEST,
    TIMESTAMP_RE,
    Pushed,
    assert_oci_error,
    digest_of,
    image_manifest,
    next_link,
    push_blob,
    push_image,
    push_manifest,
    random_bytes,
    repo,
)
from tests.inprocess import InProcessRegistry

PAGE = 1000
MANY = 1200  # past one page of 1000


def history_url(name: str, tag: str) -> str:
    return f"/v2/{name}/_chainguard/history/{tag}"


def history(
    client: httpx.Client, name: str, tag: str, **params: str
) -> tuple[list[dict[str, Any]], httpx.Response]:
    response = client.get(history_url(name, tag), params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    records: list[dict[str, Any]] = body["history"]
    for record in records:
        assert set(record) == {"updateTimestamp", "digest"}, record
        assert TIMESTAMP_RE.fullmatch(record["updateTimestamp"]), record
    return records, response


def parse(timestamp: str) -> datetime:
    return datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def iso(moment: datetime, *, offset: timedelta = timedelta(0), micro: bool = False) -> str:
    """``moment`` in ISO 8601 at ``offset`` (``Z`` for UTC), milli- or microseconds."""
    local = moment.astimezone(timezone(offset))
    text = local.isoformat(timespec="microseconds" if micro else "milliseconds")
    return text.replace("+00:00", "Z") if offset == timedelta(0) else text


def digests(records: list[dict[str, Any]]) -> list[str]:
    return [r["digest"] for r in records]


def assert_strictly_increasing(records: list[dict[str, Any]]) -> None:
    stamps = [parse(r["updateTimestamp"]) for r in records]
    assert all(a < b for a, b in pairwise(stamps)), stamps


@dataclass
class Moves:
    name: str
    tag: str
    images: list[Pushed]  # in the order the tag was pointed at them
    records: list[dict[str, Any]]


@pytest.fixture
def moves(client: httpx.Client) -> Moves:
    """A tag moved across five images, with a re-push and a delete along the way."""
    name, tag = repo("hist"), "latest"
    images = [push_image(client, name) for _ in range(5)]
    for image in images[:3]:
        push_manifest(client, name, tag, image.body)
    push_manifest(client, name, tag, images[2].body)  # same digest again: no record
    assert client.delete(f"/v2/{name}/manifests/{tag}").status_code == 202  # not listed
    for image in images[3:]:
        push_manifest(client, name, tag, image.body)
    records, _ = history(client, name, tag)
    return Moves(name, tag, images, records)


def test_moves_oldest_first_without_deletions(moves: Moves) -> None:
    assert digests(moves.records) == [image.digest for image in moves.images]
    assert_strictly_increasing(moves.records)


def test_timestamps_are_recent_utc_milliseconds(moves: Moves) -> None:
    now = datetime.now(UTC)
    for record in moves.records:
        moment = parse(record["updateTimestamp"])
        assert now - timedelta(minutes=5) < moment < now + timedelta(minutes=5)


def test_repush_of_current_digest_records_nothing(client: httpx.Client, moves: Moves) -> None:
    for _ in range(3):
        push_manifest(client, moves.name, moves.tag, moves.images[-1].body)
    assert history(client, moves.name, moves.tag)[0] == moves.records


def test_pushing_by_digest_or_other_tags_records_nothing_here(
    client: httpx.Client, moves: Moves
) -> None:
    other = push_image(client, moves.name, "other-tag")
    push_manifest(client, moves.name, other.digest, other.body)
    assert history(client, moves.name, moves.tag)[0] == moves.records
    assert digests(history(client, moves.name, "other-tag")[0]) == [other.digest]


def test_every_digest_in_history_stays_pullable(client: httpx.Client, moves: Moves) -> None:
    assert client.delete(f"/v2/{moves.name}/manifests/{moves.tag}").status_code == 202
    for record in moves.records:
        response = client.get(f"/v2/{moves.name}/manifests/{record['digest']}")
        assert response.status_code == 200
        algorithm = record["digest"].split(":")[0]
        assert digest_of(response.content, algorithm) == record["digest"]


def test_history_survives_tag_deletion(client: httpx.Client, moves: Moves) -> None:
    assert client.delete(f"/v2/{moves.name}/manifests/{moves.tag}").status_code == 202
    assert history(client, moves.name, moves.tag)[0] == moves.records


def test_inclusive_bounds(client: httpx.Client, moves: Moves) -> None:
    stamps = [r["updateTimestamp"] for r in moves.records]
    name, tag = moves.name, moves.tag
    assert history(client, name, tag, start=stamps[1], end=stamps[3])[0] == moves.records[1:4]
    assert history(client, name, tag, start=stamps[2], end=stamps[2])[0] == [moves.records[2]]
    assert history(client, name, tag, start=stamps[3])[0] == moves.records[3:]
    assert history(client, name, tag, end=stamps[1])[0] == moves.records[:2]
    assert history(client, name, tag, start=stamps[0], end=stamps[-1])[0] == moves.records


def test_bounds_one_millisecond_off(client: httpx.Client, moves: Moves) -> None:
    stamps = [parse(r["updateTimestamp"]) for r in moves.records]
    ms = timedelta(milliseconds=1)
    name, tag = moves.name, moves.tag
    after = history(client, name, tag, start=iso(stamps[1] + ms))[0]
    assert after == moves.records[2:]
    before = history(client, name, tag, end=iso(stamps[3] - ms))[0]
    assert before == moves.records[:3]


def test_sub_millisecond_bounds(client: httpx.Client, moves: Moves) -> None:
    stamps = [parse(r["updateTimestamp"]) for r in moves.records]
    half = timedelta(microseconds=500)
    name, tag = moves.name, moves.tag
    # start a fraction after a record excludes it; end a fraction after includes it.
    start = iso(stamps[1] + half, micro=True)
    assert history(client, name, tag, start=start)[0] == moves.records[2:]
    end = iso(stamps[3] + half, micro=True)
    assert history(client, name, tag, end=end)[0] == moves.records[:4]
    # A fraction before: the other way round.
    start = iso(stamps[1] - half, micro=True)
    assert history(client, name, tag, start=start)[0] == moves.records[1:]
    end = iso(stamps[3] - half, micro=True)
    assert history(client, name, tag, end=end)[0] == moves.records[:3]


def test_sub_millisecond_window_is_not_start_after_end(client: httpx.Client, moves: Moves) -> None:
    """start=T+0.5ms, end=T+0.7ms (or start == end) is a valid, empty window: start is not
    after end, so it is no 400, and no record falls inside it."""
    stamp = parse(moves.records[2]["updateTimestamp"])
    start = iso(stamp + timedelta(microseconds=500), micro=True)
    end = iso(stamp + timedelta(microseconds=700), micro=True)
    assert history(client, moves.name, moves.tag, start=start, end=end)[0] == []
    assert history(client, moves.name, moves.tag, start=start, end=start)[0] == []


@pytest.mark.parametrize(
    "offset", [timedelta(hours=2), timedelta(hours=-5, minutes=-30), timedelta(0)]
)
def test_bounds_with_offsets(client: httpx.Client, moves: Moves, offset: timedelta) -> None:
    stamps = [parse(r["updateTimestamp"]) for r in moves.records]
    start, end = iso(stamps[1], offset=offset), iso(stamps[3], offset=offset)
    if offset:
        assert not start.endswith("Z")
    records, _ = history(client, moves.name, moves.tag, start=start, end=end)
    assert records == moves.records[1:4]


def test_other_iso_forms(client: httpx.Client, moves: Moves) -> None:
    first = parse(moves.records[0]["updateTimestamp"])
    whole_second_before = first.replace(microsecond=0)
    start = whole_second_before.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert history(client, moves.name, moves.tag, start=start)[0] == moves.records
    plus_zero = iso(first).replace("Z", "+00:00")
    assert history(client, moves.name, moves.tag, start=plus_zero)[0] == moves.records


def test_bounds_outside_everything(client: httpx.Client, moves: Moves) -> None:
    name, tag = moves.name, moves.tag
    assert history(client, name, tag, start="2999-01-01T00:00:00.000Z")[0] == []
    assert history(client, name, tag, end="2000-01-01T00:00:00.000Z")[0] == []


@pytest.mark.parametrize(
    "params",
    [
        {"start": "yesterday"},
        {"end": "2023-13-01T00:00:00Z"},
        {"start": "2023-05-12T25:00:00Z"},
        {"start": "12345"},
        {"start": "2024-01-02T00:00:00.000Z", "end": "2024-01-01T00:00:00.000Z"},
    ],
)
def test_bad_bounds_are_400(client: httpx.Client, moves: Moves, params: dict[str, str]) -> None:
    response = client.get(history_url(moves.name, moves.tag), params=params)
    assert_oci_error(response, 400)


def test_start_after_end_by_one_millisecond(client: httpx.Client, moves: Moves) -> None:
    stamp = parse(moves.records[2]["updateTimestamp"])
    params = {"start": iso(stamp + timedelta(milliseconds=1)), "end": iso(stamp)}
    assert_oci_error(client.get(history_url(moves.name, moves.tag), params=params), 400)


def test_unknown_repository_is_404(client: httpx.Client) -> None:
    assert_oci_error(client.get(history_url(repo("hist"), "latest")), 404, "NAME_UNKNOWN")


def test_unknown_tag_is_404(client: httpx.Client, moves: Moves) -> None:
    response = client.get(history_url(moves.name, "never-existed"))
    assert_oci_error(response, 404)


def test_invalid_tag_or_name_is_400(client: httpx.Client) -> None:
    assert_oci_error(client.get(history_url(repo("hist"), "-bad")), 400)
    assert_oci_error(client.get(history_url("UPPER/case", "latest")), 400, "NAME_INVALID")


def test_moving_a_tag_never_deletes_the_manifest(client: httpx.Client) -> None:
    name = repo("hist")
    first = push_image(client, name, "t")
    second = push_image(client, name, "t")
    assert client.get(f"/v2/{name}/manifests/{first.digest}").content == first.body
    assert client.delete(f"/v2/{name}/manifests/t").status_code == 202
    for pushed in (first, second):
        assert client.get(f"/v2/{name}/manifests/{pushed.digest}").content == pushed.body


# -- more moves than a page: paging ---------------------------------------------------------


@dataclass
class ManyMoves:
    name: str
    tag: str
    digests: list[str]
    bodies: dict[str, bytes]


@pytest.fixture(scope="module")
def many(app_registry: InProcessRegistry) -> Iterator[ManyMoves]:
    name, tag = repo("many"), "rolling"
    with app_registry.client() as client:
        config = random_bytes()
        push_blob(client, name, config)
        bodies = {}
        pushed = []
        for i in range(MANY):
            body = image_manifest(config, annotations={"n": str(i)})
            digest = push_manifest(client, name, tag, body).digest
            bodies[digest] = body
            pushed.append(digest)
        yield ManyMoves(name, tag, pushed, bodies)


def test_more_moves_than_a_page_page_at_1000_with_link(
    client: httpx.Client, many: ManyMoves
) -> None:
    first, response = history(client, many.name, many.tag)
    assert len(first) == PAGE
    link = next_link(response)
    assert link is not None
    assert "start=" in link
    assert httpx.URL(link).path == history_url(many.name, many.tag)
    rest, response = history_from(client, link)
    assert len(rest) == MANY - PAGE
    assert next_link(response) is None
    records = first + rest
    assert digests(records) == many.digests  # none repeated, none skipped, oldest first
    assert_strictly_increasing(records)


def history_from(client: httpx.Client, link: str) -> tuple[list[dict[str, Any]], httpx.Response]:
    response = client.get(link)
    assert response.status_code == 200, response.text
    records: list[dict[str, Any]] = response.json()["history"]
    return records, response


def test_paging_keeps_the_end_bound(client: httpx.Client, many: ManyMoves) -> None:
    everything = history(client, many.name, many.tag)[0]
    everything += history_from(client, str(next_link(history(client, many.name, many.tag)[1])))[0]
    last = MANY - 51  # a window of more than a page that ends before the newest moves
    start, end = everything[100]["updateTimestamp"], everything[last]["updateTimestamp"]
    first, response = history(client, many.name, many.tag, start=start, end=end)
    assert len(first) == PAGE
    link = next_link(response)
    assert link is not None
    rest, response = history_from(client, link)
    assert next_link(response) is None
    assert first + rest == everything[100 : last + 1]


def test_exactly_1000_records_have_no_link(client: httpx.Client, many: ManyMoves) -> None:
    everything = history(client, many.name, many.tag)[0]
    end = everything[PAGE - 1]["updateTimestamp"]
    records, response = history(client, many.name, many.tag, end=end)
    assert records == everything
    assert next_link(response) is None


def test_oci_view_of_more_moves_than_a_page_pages_with_link(
    client: httpx.Client, many: ManyMoves
) -> None:
    oci_index = "application/vnd.oci.image.index.v1+json"
    collected: list[str] = []
    link: str | None = f"/v2/{many.name}/_oci/tag-history/{many.tag}"
    pages = 0
    while link is not None:
        response = client.get(link)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].split(";")[0] == oci_index
        page = response.json()["manifests"]
        assert 0 < len(page) <= PAGE
        collected += [entry["digest"] for entry in page]
        pages += 1
        assert pages <= 3
        link = next_link(response)
    assert pages == 2
    assert collected == many.digests[::-1]  # newest first, each exactly once


def test_every_digest_of_many_moves_is_pullable(client: httpx.Client, many: ManyMoves) -> None:
    def fetch(digest: str) -> tuple[str, bytes]:
        response = client.get(f"/v2/{many.name}/manifests/{digest}")
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == OCI_MANIFEST
        return digest, response.content

    with ThreadPoolExecutor(max_workers=8) as pool:
        for digest, content in pool.map(fetch, many.digests):
            assert "sha256:" + hashlib.sha256(content).hexdigest() == digest
            assert content == many.bodies[digest]
