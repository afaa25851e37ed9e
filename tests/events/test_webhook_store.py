"""The outbox and the deliveries in the metadata store, on SQLite and PostgreSQL: events are
written with the history record or not at all, due one at a time per tag, leased to one owner."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import Table, func, select

from tagtrail.errors import TagImmutable
from tagtrail.meta.schema import webhook_deliveries, webhook_events
from tagtrail.meta.sql import SqlMetadataStore
from tagtrail.meta.webhooks import DELIVERED, FAILED, PENDING, WebhookRecord
from tagtrail.types import MoveBy, RepoName, Tag
from tests.meta.contract import manifest

pytestmark = pytest.mark.anyio

NAME = RepoName("acme/app")
LATEST = Tag("latest")


async def _rows(store: SqlMetadataStore, table: Table) -> int:
    async with store.database.read() as conn:
        count = await conn.scalar(select(func.count()).select_from(table))
    assert count is not None
    return int(count)


async def _events(store: SqlMetadataStore) -> int:
    return await _rows(store, webhook_events)


async def _deliveries(store: SqlMetadataStore) -> int:
    return await _rows(store, webhook_deliveries)


async def _hook(store: SqlMetadataStore, **filters: object) -> int:
    return await store.add_webhook(WebhookRecord("http://127.0.0.1:9/hook", **filters))  # type: ignore[arg-type]


async def test_a_move_writes_its_event_with_what_the_record_says(store: SqlMetadataStore) -> None:
    hook = await _hook(store)
    first, second = manifest(1), manifest(2)
    await store.put_manifest(NAME, first, LATEST, by=MoveBy("push", actor="alice"))
    await store.put_manifest(NAME, second, LATEST, by=MoveBy("restore", actor="token:t1"))
    await store.delete_tag(NAME, LATEST, by=MoveBy("delete", actor="bob"))
    listed = await store.deliveries(hook)
    events = [d.event for d in reversed(listed)]
    assert [(e.event, e.action, e.actor) for e in events] == [
        ("created", "push", "alice"),
        ("created", "restore", "token:t1"),
        ("deleted", "delete", "bob"),
    ]
    assert [(e.digest, e.previous) for e in events] == [
        (str(first.digest), None),
        (str(second.digest), str(first.digest)),
        (str(second.digest), str(second.digest)),
    ]
    assert {(e.repository, e.tag) for e in events} == {(NAME, LATEST)}
    assert len({e.id for e in events}) == 3
    assert all(d.state == PENDING and d.attempts == 0 for d in listed)
    history = await store.history(NAME, LATEST, start_ms=None, end_ms=None, limit=10)
    assert [e.timestamp_ms for e in events] == [r.timestamp_ms for r in history]


async def test_no_webhook_no_event_and_a_refused_move_writes_none(
    store: SqlMetadataStore,
) -> None:
    await store.put_manifest(NAME, manifest(1), LATEST)
    assert await _events(store) == 0
    await _hook(store)
    with pytest.raises(TagImmutable):
        await store.put_manifest(NAME, manifest(2), LATEST, by=MoveBy("push", rule="acme/* *"))
    assert (await _events(store), await _deliveries(store)) == (0, 0)
    # The same digest again moves nothing: no record, no event.
    await store.put_manifest(NAME, manifest(1), LATEST)
    assert await _events(store) == 0


async def test_repository_glob_and_actions_choose_the_webhooks(store: SqlMetadataStore) -> None:
    everything = await _hook(store)
    acme = await _hook(store, repos="acme/*")
    deletions = await _hook(store, actions=("delete", "restore"))
    await store.put_manifest(NAME, manifest(1), LATEST)
    await store.put_manifest(RepoName("other/app"), manifest(2), LATEST)
    await store.delete_tag(RepoName("other/app"), LATEST)
    counts = [len(await store.deliveries(h)) for h in (everything, acme, deletions)]
    assert counts == [3, 1, 1]
    assert (await store.deliveries(deletions))[0].event.action == "delete"
    # One event a move, however many webhooks get it.
    assert await _events(store) == 3


async def test_a_tags_next_event_waits_for_the_one_before(store: SqlMetadataStore) -> None:
    await _hook(store)
    for n in range(3):
        await store.put_manifest(NAME, manifest(n), LATEST)
    await store.put_manifest(NAME, manifest(9), Tag("other"))
    claimed = await store.claim_deliveries("a", 1_000_000_000_000_000, 60_000, 10)
    # The first of each tag, not the ones behind it.
    assert sorted(c.delivery.event.tag for c in claimed) == ["latest", "other"]
    first = next(c.delivery for c in claimed if c.delivery.event.tag == LATEST)
    now = 1_000_000_000_000_000
    assert await store.claim_deliveries("b", now, 60_000, 10) == []  # leased, and in order
    # A failed attempt due later keeps the next one waiting too.
    await store.finish_delivery(
        first.id, "a", state=PENDING, now_ms=now, next_attempt_ms=now + 5, status=500, error="x"
    )
    assert await store.claim_deliveries("b", now, 60_000, 10) == []
    again = await store.claim_deliveries("b", now + 5, 60_000, 10)
    assert [c.delivery.id for c in again] == [first.id]
    assert again[0].delivery.attempts == 1
    await store.finish_delivery(
        first.id, "b", state=DELIVERED, now_ms=now, next_attempt_ms=now, status=200, error=None
    )
    following = await store.claim_deliveries("b", now + 5, 60_000, 10)
    assert [c.delivery.event.digest for c in following] == [str(manifest(1).digest)]
    # A lease that ran out goes to someone else; the old owner's finish is then refused.
    taken = await store.claim_deliveries("c", now + 60_005, 60_000, 10)
    assert following[0].delivery.id in [c.delivery.id for c in taken]
    assert not await store.finish_delivery(
        following[0].delivery.id,
        "b",
        state=DELIVERED,
        now_ms=now,
        next_attempt_ms=now,
        status=200,
        error=None,
    )


async def test_failed_for_good_lets_the_next_go_and_redeliver_makes_it_pending(
    store: SqlMetadataStore,
) -> None:
    hook = await _hook(store)
    for n in range(2):
        await store.put_manifest(NAME, manifest(n), LATEST)
    now = 1_000_000_000_000_000
    (first,) = await store.claim_deliveries("a", now, 60_000, 10)
    await store.finish_delivery(
        first.delivery.id,
        "a",
        state=FAILED,
        now_ms=now,
        next_attempt_ms=now,
        status=None,
        error="ConnectError",
    )
    assert [d.id for d in await store.deliveries(hook, failed_only=True)] == [first.delivery.id]
    (second,) = await store.claim_deliveries("a", now, 60_000, 10)
    assert second.delivery.id != first.delivery.id
    assert await store.redeliver(first.delivery.id, now + 1)
    assert not await store.redeliver(10_000_000, now)
    assert await store.deliveries(hook, failed_only=True) == []
    (redelivered,) = await store.claim_deliveries("b", now + 1, 60_000, 10)
    assert redelivered.delivery.id == first.delivery.id
    assert (redelivered.delivery.attempts, redelivered.delivery.since_ms) == (0, now + 1)
    assert redelivered.delivery.event.id == first.delivery.event.id


async def test_racing_owners_each_get_a_delivery_once(store_url: str) -> None:
    stores = [await SqlMetadataStore.open(store_url) for _ in range(4)]
    try:
        await _hook(stores[0])
        for n in range(40):
            await stores[0].put_manifest(NAME, manifest(n), Tag(f"t{n}"))
        now = 1_000_000_000_000_000
        rounds = await asyncio.gather(
            *(s.claim_deliveries(f"owner{i}", now, 60_000, 40) for i, s in enumerate(stores))
        )
        ids = [c.delivery.id for claimed in rounds for c in claimed]
        assert len(ids) == 40 and len(set(ids)) == 40
    finally:
        for opened in stores:
            await opened.close()


async def test_removing_a_webhook_forgets_its_deliveries(store: SqlMetadataStore) -> None:
    kept, removed = await _hook(store), await _hook(store, repos="acme/*")
    await store.put_manifest(NAME, manifest(1), LATEST)
    assert await store.remove_webhook(removed)
    assert not await store.remove_webhook(removed)
    assert [w.id for w in await store.list_webhooks()] == [kept]
    assert (await _events(store), await _deliveries(store)) == (1, 1)
    assert await store.remove_webhook(kept)
    assert (await _events(store), await _deliveries(store)) == (0, 0)


async def test_a_mirrored_move_is_an_event_of_its_own_action(store: SqlMetadataStore) -> None:
    mirrored = await _hook(store, actions=("mirror",))
    pushes = await _hook(store, actions=("push",))
    await store.record_mirrored_move(
        RepoName("hub/python"), LATEST, manifest(1), previous_check_ms=5
    )
    (delivery,) = await store.deliveries(mirrored)
    assert (delivery.event.action, delivery.event.repository) == ("mirror", "hub/python")
    assert await store.deliveries(pushes) == []
