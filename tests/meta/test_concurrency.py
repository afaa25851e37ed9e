"""Races on every metadata backend: the outcome is one a serial order would give."""

from __future__ import annotations

import asyncio
import json
import random

import pytest

from tagtrail.meta.sql import SqlMetadataStore
from tagtrail.meta.store import MetadataStore
from tagtrail.types import OCI_MANIFEST, Digest, HistoryRecord, Manifest, RepoName, Tag

pytestmark = pytest.mark.anyio

REPO = RepoName("race/app")


def manifest(n: int) -> Manifest:
    content = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "n": n}).encode()
    return Manifest(Digest.of(content), OCI_MANIFEST, content, (), (), None, None, None)


async def records(store: MetadataStore, tag: str) -> list[HistoryRecord]:
    return await store.history(REPO, Tag(tag), start_ms=None, end_ms=None, limit=100_000)


async def assert_serial(store: MetadataStore, tag: str) -> None:
    """The history replays to the tag's current state: no move lost, none recorded twice."""
    history = await records(store, tag)
    current: Digest | None = None
    for record in history:
        if record.event == "created":
            assert record.digest != current, "a move to the digest the tag already had"
            current = record.digest
        else:
            assert record.digest == current, "a deletion of something the tag did not point to"
            current = None
    resolved = await store.resolve_tag(REPO, Tag(tag))
    assert (resolved.digest if resolved else None) == current
    stamps = [r.timestamp_ms for r in history]
    assert stamps == sorted(set(stamps))


async def test_same_blob_linked_concurrently_is_one_link(store: MetadataStore) -> None:
    digest = Digest.of(b"same layer")
    await asyncio.gather(*(store.link_blob(REPO, digest, 10) for _ in range(40)))
    assert await store.blob_size(REPO, digest) == 10
    assert await store.missing_blobs(REPO, [digest]) == []


async def test_many_clients_moving_one_tag(store_url: str) -> None:
    """Four stores (replicas, each with its own pool) move one tag, some to the same digest."""
    replicas = [await SqlMetadataStore.open(store_url) for _ in range(4)]
    try:
        targets = [manifest(n % 7) for n in range(80)]
        random.Random(7).shuffle(targets)
        moves = await asyncio.gather(
            *(
                replicas[n % 4].put_manifest(REPO, target, Tag("hot"))
                for n, target in enumerate(targets)
            )
        )
        await assert_serial(replicas[0], "hot")
        moved = sum(1 for move in moves if move is not None and move.moved)
        assert moved == len(await records(replicas[0], "hot"))
    finally:
        for replica in replicas:
            await replica.close()


async def test_deletes_racing_pushes(store_url: str) -> None:
    """Deleting a manifest (and with it its tags) while others push it again and move tags."""
    replicas = [await SqlMetadataStore.open(store_url) for _ in range(3)]
    try:
        first, second = manifest(1), manifest(2)
        await replicas[0].put_manifest(REPO, first, Tag("a"))

        async def pusher(store: MetadataStore, n: int) -> None:
            for i in range(15):
                target = first if (i + n) % 2 else second
                await store.put_manifest(REPO, target, Tag("a" if i % 3 else "b"))

        async def deleter(store: MetadataStore) -> None:
            for _ in range(15):
                await store.delete_manifest(REPO, first.digest, protect_history=False)
                await store.delete_tag(REPO, Tag("b"))
                await asyncio.sleep(0)

        await asyncio.gather(pusher(replicas[0], 0), pusher(replicas[1], 1), deleter(replicas[2]))
        for tag in ("a", "b"):
            await assert_serial(replicas[0], tag)
        for tag in await replicas[0].list_tags(REPO, None, None):
            assert await replicas[0].resolve_tag(REPO, Tag(tag)) is not None  # never dangling
    finally:
        for replica in replicas:
            await replica.close()
