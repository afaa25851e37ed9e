"""Contract of the mirror-state store (``meta.mirror_state``) on every backend."""

from __future__ import annotations

import asyncio

import pytest

from tagtrail.meta.mirror_state import IMPORT_ACTION, MIRROR_ACTION, ImportedMove, TagCheck, Watch
from tagtrail.meta.store import MetadataStore
from tagtrail.types import Digest, RepoName, Tag
from tests.meta.contract import manifest

pytestmark = pytest.mark.anyio

NAME = RepoName("hub/library/app")
TAG = Tag("latest")


async def _records(store: MetadataStore) -> list[tuple[int, str, str | None, int | None]]:
    found = await store.history(NAME, TAG, start_ms=None, end_ms=None, limit=100)
    return [(r.timestamp_ms, str(r.digest), r.action, r.previous_check_ms) for r in found]


async def test_tag_checks_are_saved_and_replaced(store: MetadataStore) -> None:
    assert await store.tag_check(NAME, TAG) is None
    first = TagCheck(manifest(1).digest, 1000, imported=False)
    await store.save_tag_check(NAME, TAG, first)
    assert await store.tag_check(NAME, TAG) == first
    gone = TagCheck(None, 2000, imported=True)
    await store.save_tag_check(NAME, TAG, gone)
    assert await store.tag_check(NAME, TAG) == gone
    assert await store.tag_check(NAME, Tag("other")) is None


async def test_a_mirrored_move_is_recorded_with_its_action_and_previous_check(
    store: MetadataStore,
) -> None:
    one, two = manifest(1), manifest(2)
    first = await store.record_mirrored_move(NAME, TAG, one, previous_check_ms=None)
    assert (first.previous, first.moved) == (None, True)
    again = await store.record_mirrored_move(NAME, TAG, one, previous_check_ms=5)
    assert not again.moved  # the tag points there already: nothing recorded
    records = await _records(store)
    second = await store.record_mirrored_move(NAME, TAG, two, previous_check_ms=records[0][0])
    assert second.previous == one.digest
    records = await _records(store)
    assert [(d, a) for _, d, a, _ in records] == [
        (str(one.digest), MIRROR_ACTION),
        (str(two.digest), MIRROR_ACTION),
    ]
    assert records[0][3] is None and records[1][3] == records[0][0]
    resolved = await store.resolve_tag(NAME, TAG)
    assert resolved is not None and resolved.digest == two.digest
    # The blobs need not be here: a mirror fetches them on first pull.
    assert await store.missing_blobs(NAME, list(two.blob_refs)) == list(two.blob_refs)


async def test_pushed_records_have_the_push_action_and_no_previous_check(
    store: MetadataStore,
) -> None:
    await store.put_manifest(NAME, manifest(1), TAG)
    assert [(a, p) for _, _, a, p in await _records(store)] == [("push", None)]


async def test_an_upstream_deletion_untags_records_and_keeps_the_manifest(
    store: MetadataStore,
) -> None:
    one = manifest(1)
    await store.record_mirrored_move(NAME, TAG, one, previous_check_ms=None)
    assert await store.record_mirrored_deletion(NAME, TAG, previous_check_ms=7)
    assert not await store.record_mirrored_deletion(NAME, TAG, previous_check_ms=8)
    assert not await store.record_mirrored_deletion(RepoName("hub/none"), TAG, previous_check_ms=8)
    found = await store.history(NAME, TAG, start_ms=None, end_ms=None, limit=10)
    assert [(r.event, r.action, r.previous_check_ms) for r in found] == [
        ("created", MIRROR_ACTION, None),
        ("deleted", MIRROR_ACTION, 7),
    ]
    assert await store.resolve_tag(NAME, TAG) is None
    assert await store.get_manifest(NAME, one.digest) is not None


async def test_imported_history_comes_first_with_the_upstreams_timestamps(
    store: MetadataStore,
) -> None:
    one, two, three = manifest(1), manifest(2), manifest(3)
    imported = [
        ImportedMove(1_000, one.digest),
        ImportedMove(2_000, two.digest),
        ImportedMove(2_000, two.digest),  # the same millisecond twice: still increasing
        ImportedMove(3_000, three.digest, three.media_type, three.size),
    ]
    move = await store.record_mirrored_move(
        NAME, TAG, three, previous_check_ms=None, imported=imported
    )
    assert move.moved
    records = await _records(store)
    # The newest imported record names where the tag points: no observation of ours added.
    assert records == [
        (1_000, str(one.digest), IMPORT_ACTION, None),
        (2_000, str(two.digest), IMPORT_ACTION, None),
        (2_001, str(two.digest), IMPORT_ACTION, None),
        (3_000, str(three.digest), IMPORT_ACTION, None),
    ]
    resolved = await store.resolve_tag(NAME, TAG)
    assert resolved is not None and resolved.digest == three.digest
    # A tag with history here imports nothing more.
    four = manifest(4)
    await store.record_mirrored_move(
        NAME, TAG, four, previous_check_ms=9_000, imported=[ImportedMove(10, four.digest)]
    )
    records = await _records(store)
    assert len(records) == 5
    assert records[-1][1:] == (str(four.digest), MIRROR_ACTION, 9_000)


async def test_imported_history_ending_elsewhere_is_followed_by_the_observed_move(
    store: MetadataStore,
) -> None:
    one, two = manifest(1), manifest(2)
    await store.record_mirrored_move(
        NAME, TAG, two, previous_check_ms=None, imported=[ImportedMove(1_000, one.digest)]
    )
    records = await _records(store)
    assert [(d, a) for _, d, a, _ in records] == [
        (str(one.digest), IMPORT_ACTION),
        (str(two.digest), MIRROR_ACTION),
    ]


async def test_watches_are_added_replaced_listed_and_removed(store: MetadataStore) -> None:
    watch = Watch(RepoName("hub/library/app"), tags=r"3\..*", interval_s=60, created_ms=1)
    assert await store.add_watch(watch)
    other = Watch(RepoName("quay/x"), platforms=("linux/amd64", "linux/arm64/v8"), created_ms=2)
    assert await store.add_watch(other)
    changed = Watch(watch.repository, exclude="rc", interval_s=5, created_ms=3)
    assert not await store.add_watch(changed)
    listed = await store.list_watches()
    assert [(w.repository, w.tags, w.exclude, w.interval_s) for w in listed] == [
        ("hub/library/app", None, "rc", 5),
        ("quay/x", None, None, 300),
    ]
    assert listed[1].platforms == ("linux/amd64", "linux/arm64/v8")
    assert [w.repository for w in await store.list_watches("quay")] == ["quay/x"]
    assert await store.list_watches("hu") == []
    assert await store.remove_watch(RepoName("quay/x"))
    assert not await store.remove_watch(RepoName("quay/x"))


async def test_one_owner_holds_a_watch_round_until_it_finishes_and_the_interval_passes(
    store: MetadataStore,
) -> None:
    name = RepoName("hub/library/app")
    await store.add_watch(Watch(name, interval_s=10))
    taken = await asyncio.gather(
        *(store.claim_watch(name, f"replica-{n}", 1_000, 30_000) for n in range(4))
    )
    assert sorted(taken) == [False, False, False, True]
    owner = f"replica-{taken.index(True)}"
    await store.finish_watch(name, "someone-else", 1_000, None)  # not theirs: no effect
    assert not await store.claim_watch(name, "late", 2_000, 30_000)
    await store.finish_watch(name, owner, 1_000, "upstream down")
    (watch,) = await store.list_watches()
    assert (watch.last_round_ms, watch.last_error) == (1_000, "upstream down")
    assert not await store.claim_watch(name, "early", 10_999, 30_000)  # not due yet
    assert await store.claim_watch(name, "due", 11_000, 30_000)
    # A crashed owner's lease expires.
    assert not await store.claim_watch(name, "other", 40_999, 30_000)
    assert await store.claim_watch(name, "other", 41_000, 30_000)


async def test_one_fetch_lease_per_blob_until_released_or_expired(store: MetadataStore) -> None:
    blob = Digest.of(b"layer")
    taken = await asyncio.gather(
        *(store.claim_fetch(blob, f"replica-{n}", 1_000, 5_000) for n in range(4))
    )
    assert sorted(taken) == [False, False, False, True]
    owner = f"replica-{taken.index(True)}"
    assert await store.claim_fetch(blob, owner, 2_000, 5_000)  # the owner renews
    assert not await store.claim_fetch(blob, "late", 6_999, 5_000)
    assert await store.claim_fetch(blob, "late", 7_000, 5_000)  # expired
    await store.release_fetch(blob, owner)  # no longer the owner: no effect
    assert not await store.claim_fetch(blob, owner, 8_000, 5_000)
    await store.release_fetch(blob, "late")
    assert await store.claim_fetch(blob, owner, 8_000, 5_000)
