"""The tag-rule store (``meta.rules``) on every backend, and the refusal in the storing
transaction that a rule's ``MoveBy.rule`` brings (``meta.sql_tag_moves``), races included."""

from __future__ import annotations

import asyncio

import pytest

from tagtrail.errors import TagImmutable
from tagtrail.meta.rules import TagRule
from tagtrail.meta.sql import SqlMetadataStore
from tagtrail.meta.store import MetadataStore
from tagtrail.types import MoveBy, Tag
from tests.meta.contract import REPO, history_of, manifest

pytestmark = pytest.mark.anyio

RULE = "#1 team v*"


async def test_add_list_get(store: MetadataStore) -> None:
    first = await store.add_tag_rule(
        TagRule("team", None, "v*", ("v*-rc*", "latest"), created_ms=5, created_by="alice")
    )
    second = await store.add_tag_rule(TagRule("team", "app-*", "*.*.*", created_ms=6))
    other = await store.add_tag_rule(TagRule("other", None, "*", created_ms=7))
    assert first.id and second.id > first.id and other.id > second.id
    assert await store.tag_rules("team") == [first, second]
    assert [r.id for r in await store.list_tag_rules(None)] == [first.id, second.id, other.id]
    assert await store.list_tag_rules("other") == [other]
    assert await store.list_tag_rules("team", removed=True) == []
    fetched = await store.get_tag_rule(first.id)
    assert fetched == first
    assert (fetched.exceptions, fetched.created_by, fetched.removed_ms) == (
        ("v*-rc*", "latest"),
        "alice",
        None,
    )
    assert second.repository == "app-*" and second.exceptions == ()
    assert await store.get_tag_rule(other.id + 100) is None


async def test_removal_is_kept_as_the_audit_record(store: MetadataStore) -> None:
    rule = await store.add_tag_rule(TagRule("team", None, "v*", created_ms=1))
    removed = await store.remove_tag_rule(rule.id, by="bob", when_ms=1234)
    assert removed is not None
    assert (removed.id, removed.removed_by, removed.removed_ms) == (rule.id, "bob", 1234)
    assert await store.tag_rules("team") == []
    assert await store.list_tag_rules("team") == []
    assert await store.list_tag_rules("team", removed=True) == [removed]
    assert await store.get_tag_rule(rule.id) == removed
    # A second removal finds no rule in force, and leaves the first one's record alone.
    assert await store.remove_tag_rule(rule.id, by="carol", when_ms=9999) is None
    assert await store.get_tag_rule(rule.id) == removed


async def test_racing_removals_record_one_remover(store_url: str) -> None:
    replicas = [await SqlMetadataStore.open(store_url) for _ in range(3)]
    try:
        rule = await replicas[0].add_tag_rule(TagRule("team", None, "v*", created_ms=1))
        results = await asyncio.gather(
            *(
                r.remove_tag_rule(rule.id, by=f"admin{n}", when_ms=100 + n)
                for n, r in enumerate(replicas)
            )
        )
        winners = [result for result in results if result is not None]
        assert len(winners) == 1
        assert await replicas[0].get_tag_rule(rule.id) == winners[0]
    finally:
        for replica in replicas:
            await replica.close()


async def test_a_rule_refuses_moving_and_deleting_but_not_creating(store: MetadataStore) -> None:
    v1, v2 = manifest(1), manifest(2)
    guarded = MoveBy("push", "alice", rule=RULE)
    created = await store.put_manifest(REPO, v1, Tag("v1"), by=guarded)
    assert created is not None and created.moved
    # The same digest again: accepted, nothing recorded.
    again = await store.put_manifest(REPO, v1, Tag("v1"), by=guarded)
    assert again is not None and not again.moved
    with pytest.raises(TagImmutable) as refused:
        await store.put_manifest(REPO, v2, Tag("v1"), by=guarded)
    assert RULE in refused.value.message
    assert refused.value.detail == {"tag": "v1", "rule": RULE, "digest": str(v1.digest)}
    with pytest.raises(TagImmutable):
        await store.delete_tag(REPO, Tag("v1"), by=MoveBy("delete", rule=RULE))
    with pytest.raises(TagImmutable):
        await store.delete_manifest(
            REPO, v1.digest, False, by=lambda tag: MoveBy("delete", rule=RULE)
        )
    resolved = await store.resolve_tag(REPO, Tag("v1"))
    assert resolved is not None and resolved.digest == v1.digest
    assert await store.get_manifest(REPO, v1.digest) is not None
    assert await history_of(store, "v1") == [(str(v1.digest), "created")]


async def test_rules_per_tag_in_one_push(store: MetadataStore) -> None:
    """A push by digest naming several tags: only the covered one is held, and its refusal
    moves none of them (one transaction)."""
    v1, v2 = manifest(1), manifest(2)
    await store.put_manifest_tags(REPO, v1, [Tag("v1"), Tag("latest")])

    def by(tag: Tag) -> MoveBy:
        return MoveBy("push", rule=RULE if tag.startswith("v") else None)

    with pytest.raises(TagImmutable):
        await store.put_manifest_tags(REPO, v2, [Tag("latest"), Tag("v1")], by=by)
    latest = await store.resolve_tag(REPO, Tag("latest"))
    assert latest is not None and latest.digest == v1.digest
    moves = await store.put_manifest_tags(REPO, v2, [Tag("latest"), Tag("v2")], by=by)
    assert [m.moved for m in moves] == [True, True]
    assert await history_of(store, "latest") == [
        (str(v1.digest), "created"),
        (str(v2.digest), "created"),
    ]


async def test_concurrent_creates_of_an_immutable_tag(store_url: str) -> None:
    """Replicas push different digests to one new immutable tag at once: one creates it, every
    other is refused, and the history holds the one creation."""
    replicas = [await SqlMetadataStore.open(store_url) for _ in range(4)]
    try:
        pushes = [manifest(10 + n) for n in range(len(replicas))]
        results = await asyncio.gather(
            *(
                r.put_manifest(REPO, m, Tag("v9"), by=MoveBy("push", rule=RULE))
                for r, m in zip(replicas, pushes, strict=True)
            ),
            return_exceptions=True,
        )
        refused = [r for r in results if isinstance(r, TagImmutable)]
        won = [m for m, r in zip(pushes, results, strict=True) if not isinstance(r, Exception)]
        assert len(won) == 1 and len(refused) == len(replicas) - 1
        resolved = await replicas[0].resolve_tag(REPO, Tag("v9"))
        assert resolved is not None and resolved.digest == won[0].digest
        assert await history_of(replicas[0], "v9") == [(str(won[0].digest), "created")]
    finally:
        for replica in replicas:
            await replica.close()
