"""Contract of the manifest and history stores (``meta.store``): what every backend must do,
history invariants first. Blob links and uploads: ``test_store_links``; browsing:
``test_store_browsing``."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from tagtrail.errors import ManifestBlobUnknown, Unsupported
from tagtrail.meta.sql import SqlMetadataStore
from tagtrail.meta.store import MetadataStore
from tagtrail.types import Digest, RepoName, Tag
from tests.meta.contract import CONFIG, REPO, history_of, manifest

pytestmark = pytest.mark.anyio


async def test_tag_moves_are_recorded_once_each(store: MetadataStore) -> None:
    first, second = manifest(1), manifest(2)
    move = await store.put_manifest(REPO, first, Tag("latest"))
    assert move is not None and move.moved and move.previous is None
    again = await store.put_manifest(REPO, first, Tag("latest"))
    assert again is not None and not again.moved
    await store.put_manifest(REPO, second, Tag("latest"))
    assert await history_of(store, "latest") == [
        (str(first.digest), "created"),
        (str(second.digest), "created"),
    ]
    resolved = await store.resolve_tag(REPO, Tag("latest"))
    assert resolved is not None and resolved.digest == second.digest


async def test_moved_away_digest_stays_readable(store: MetadataStore) -> None:
    first, second = manifest(1), manifest(2)
    await store.put_manifest(REPO, first, Tag("latest"))
    await store.put_manifest(REPO, second, Tag("latest"))
    assert await store.delete_tag(REPO, Tag("latest"))
    stored = await store.get_manifest(REPO, first.digest)
    assert stored is not None and stored.content == first.content
    assert await store.resolve_tag(REPO, Tag("latest")) is None
    assert (await history_of(store, "latest"))[-1] == (str(second.digest), "deleted")


async def test_timestamps_strictly_increase_under_concurrency(store: MetadataStore) -> None:
    manifests = [manifest(n) for n in range(60)]
    await asyncio.gather(*(store.put_manifest(REPO, m, Tag("hot")) for m in manifests))
    records = await store.history(REPO, Tag("hot"), start_ms=None, end_ms=None, limit=1000)
    stamps = [r.timestamp_ms for r in records]
    assert len(records) == 60
    assert all(a < b for a, b in itertools.pairwise(stamps))
    assert {str(r.digest) for r in records} == {str(m.digest) for m in manifests}
    current = await store.resolve_tag(REPO, Tag("hot"))
    assert current is not None and current.digest == records[-1].digest


async def test_history_window_and_order(store: MetadataStore) -> None:
    for n in range(10):
        await store.put_manifest(REPO, manifest(n), Tag("w"))
    records = await store.history(REPO, Tag("w"), start_ms=None, end_ms=None, limit=100)
    window = await store.history(
        REPO,
        Tag("w"),
        start_ms=records[3].timestamp_ms,
        end_ms=records[6].timestamp_ms,
        limit=100,
    )
    assert window == records[3:7]
    newest = await store.history(
        REPO, Tag("w"), start_ms=None, end_ms=None, limit=2, newest_first=True
    )
    assert newest == [records[9], records[8]]
    only = await store.history(
        REPO, Tag("w"), start_ms=None, end_ms=None, limit=100, digest=records[4].digest
    )
    assert only == [records[4]]


async def test_delete_manifest_untags_and_records(store: MetadataStore) -> None:
    target = manifest(7)
    await store.put_manifest(REPO, target, Tag("a"))
    await store.put_manifest(REPO, target, Tag("b"))
    assert await store.delete_manifest(REPO, target.digest, protect_history=False)
    assert await store.get_manifest(REPO, target.digest) is None
    assert await store.list_tags(REPO, None, None) == []
    for tag in ("a", "b"):
        assert await history_of(store, tag) == [
            (str(target.digest), "created"),
            (str(target.digest), "deleted"),
        ]
    assert not await store.delete_manifest(REPO, target.digest, protect_history=False)


async def test_protected_history_refuses_delete(store: MetadataStore) -> None:
    target = manifest(8)
    await store.link_blob(REPO, CONFIG, 2)
    await store.put_manifest(REPO, target, Tag("keep"))
    with pytest.raises(Unsupported):
        await store.delete_manifest(REPO, target.digest, protect_history=True)
    assert await store.get_manifest(REPO, target.digest) is not None


async def test_several_tags_move_in_one_push(store: MetadataStore) -> None:
    first, second = manifest(1), manifest(2)
    await store.link_blob(REPO, CONFIG, 2)
    await store.put_manifest(REPO, first, Tag("b"))
    tags = [Tag("c"), Tag("a"), Tag("b"), Tag("a")]
    moves = await store.put_manifest_tags(REPO, second, tags, verify_refs=True)
    assert [(m.tag, m.previous, m.moved) for m in moves] == [
        ("c", None, True),
        ("a", None, True),
        ("b", first.digest, True),
    ]
    assert await store.list_tags(REPO, None, None) == ["a", "b", "c"]
    for tag in ("a", "c"):
        assert await history_of(store, tag) == [(str(second.digest), "created")]
    assert await history_of(store, "b") == [
        (str(first.digest), "created"),
        (str(second.digest), "created"),
    ]
    again = await store.put_manifest_tags(REPO, second, [Tag("a")])
    assert [(m.tag, m.moved) for m in again] == [("a", False)]
    assert await store.put_manifest_tags(REPO, manifest(3), []) == []


async def test_several_tags_move_all_or_none(store: MetadataStore) -> None:
    """A push whose references fail sets none of its tags and records nothing."""
    missing = Digest.of(b"never pushed")
    await store.link_blob(REPO, CONFIG, 2)
    with pytest.raises(ManifestBlobUnknown):
        await store.put_manifest_tags(
            REPO, manifest(1, layers=(missing,)), [Tag("x"), Tag("y")], verify_refs=True
        )
    assert await store.list_tags(REPO, None, None) == []
    assert await history_of(store, "x") == []
    assert await history_of(store, "y") == []


async def test_tags_and_repositories_page_in_order(store: MetadataStore) -> None:
    for tag in ("c", "a", "b"):
        await store.put_manifest(REPO, manifest(ord(tag)), Tag(tag))
    assert await store.list_tags(REPO, 2, None) == ["a", "b"]
    assert await store.list_tags(REPO, 2, "b") == ["c"]
    await store.link_blob(RepoName("alpha"), CONFIG, 2)
    assert await store.list_repositories(None, None) == ["alpha", "team/app"]
    assert await store.list_repositories(1, "alpha") == ["team/app"]


async def test_referrers_by_subject_and_type(store: MetadataStore) -> None:
    subject = Digest.of(b"subject")
    referrer = manifest(99, subject=subject)
    await store.put_manifest(REPO, referrer, None)
    found = await store.referrers(REPO, subject, None)
    assert [r.digest for r in found] == [referrer.digest]
    assert await store.referrers(REPO, subject, "application/other") == []
    assert await store.referrers(REPO, Digest.of(b"nothing"), None) == []


async def test_two_replicas_record_one_ordered_history(store_url: str) -> None:
    """Two stores on one database (two replicas): moves through both land in one history."""
    first, second = (
        await SqlMetadataStore.open(store_url),
        await SqlMetadataStore.open(store_url),
    )
    try:
        manifests = [manifest(1000 + n) for n in range(40)]
        await asyncio.gather(
            *(
                (first if n % 2 else second).put_manifest(REPO, m, Tag("shared"))
                for n, m in enumerate(manifests)
            )
        )
        records = await first.history(REPO, Tag("shared"), start_ms=None, end_ms=None, limit=100)
        stamps = [r.timestamp_ms for r in records]
        assert len(records) == 40
        assert all(a < b for a, b in itertools.pairwise(stamps))
        assert {str(r.digest) for r in records} == {str(m.digest) for m in manifests}
        current = await second.resolve_tag(REPO, Tag("shared"))
        assert current is not None
        assert current.digest == records[-1].digest
    finally:
        await first.close()
        await second.close()
