"""Watches: a server's background rounds against a real Distribution behind the fault proxy,
and a round's retries and request rate in this process (their waits on an injected clock)."""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tagtrail.blobs.filesystem import FilesystemDriver
from tagtrail.meta.mirror_state import Watch
from tagtrail.meta.mirrors import MirrorRecord
from tagtrail.meta.sql import SqlMetadataStore
from tagtrail.registry.mirror_sync import MirrorSync
from tagtrail.registry.mirror_upstreams import Mirrored
from tagtrail.registry.mirror_watch import WatchRound
from tagtrail.times import parse_timestamp
from tagtrail.types import RepoName, Tag
from tagtrail.upstream.client import Upstream
from tagtrail.upstream.rate_limit import RateLimitedTransport, TokenBucket
from tests.auth.cli import admin
from tests.mirror.faults import Fault, fault_proxy
from tests.mirror.upstreams import OCI_MANIFEST, Distribution, push_image
from tests.mirror.watching import (
    MOVED_AFTER,
    ORIGIN,
    TIMESTAMP,
    fresh_repository,
    history,
    mirroring_server,
    poll,
    recorded,
)
from tests.ssl_context import SHARED


def test_a_watch_records_each_move_and_keeps_serving_what_it_saw(
    tmp_path: Path, distribution: Distribution, distribution_http: httpx.Client
) -> None:
    repo = fresh_repository()
    local = f"dist/{repo}"
    data = tmp_path / "data"
    with fault_proxy(distribution.url) as proxy:
        server = mirroring_server(data, proxy.url)
        try:
            images = [push_image(distribution_http, repo, "latest")]
            admin(data, "mirror", "watch", local, "--interval", "1s")
            poll("the first sight", lambda: recorded(server, local, "latest", images[0].digest))
            for n in range(3):
                images.append(push_image(distribution_http, repo, "latest"))
                poll(f"move {n + 1}", lambda: recorded(server, local, "latest", images[-1].digest))

            records = history(server, local, "latest")  # newest first
            assert [r["digest"] for r in records] == [i.digest for i in reversed(images)]
            assert all(r["annotations"][ORIGIN] == "mirror" for r in records)
            assert MOVED_AFTER not in records[-1]["annotations"]  # first sight: no check before
            checks = []
            for move in records[:-1]:
                moved_after = parse_timestamp(move["annotations"][MOVED_AFTER])
                assert moved_after < parse_timestamp(move["annotations"][TIMESTAMP])
                checks.append(moved_after)
            # Each move was seen after a check later than the one before the previous move.
            assert all(later > earlier for later, earlier in itertools.pairwise(checks))

            # The upstream forgets the old manifests: what the watch fetched still pulls.
            for image in images[:-1]:
                deleted = distribution_http.delete(f"/v2/{repo}/manifests/{image.digest}")
                assert deleted.status_code == 202, deleted.text
            with httpx.Client(base_url=server.url, timeout=10, verify=SHARED) as http:
                for image in images[:-1]:
                    pulled = http.get(
                        f"/v2/{local}/manifests/{image.digest}", headers={"Accept": OCI_MANIFEST}
                    )
                    assert pulled.status_code == 200, pulled.text
                    assert pulled.content == image.manifest
                    for layer in image.layers:
                        blob = http.get(f"/v2/{local}/blobs/sha256:{_sha256(layer)}")
                        assert blob.status_code == 200 and blob.content == layer

                # The upstream answers 503 to everything: a move there is not recorded, the
                # round's error is shown, and the cached tag still pulls.
                proxy.add(Fault(".", "status", status=503))
                unseen = push_image(distribution_http, repo, "latest")
                poll("a failed round", lambda: "answered 503" in admin(data, "mirror", "list"))
                cached = http.get(f"/v2/{local}/manifests/latest", headers={"Accept": OCI_MANIFEST})
                assert cached.status_code == 200 and cached.content == images[-1].manifest
                assert len(history(server, local, "latest")) == 4

                proxy.clear()  # back: the next round records the move it missed, once
                poll("the missed move", lambda: recorded(server, local, "latest", unseen.digest))
                assert len(history(server, local, "latest")) == 5
        finally:
            server.stop()


def test_a_429_with_retry_after_is_waited_out(
    tmp_path: Path, distribution: Distribution, distribution_http: httpx.Client
) -> None:
    repo = fresh_repository()
    local = f"dist/{repo}"
    data = tmp_path / "data"
    with fault_proxy(distribution.url) as proxy:
        server = mirroring_server(data, proxy.url)
        try:
            image = push_image(distribution_http, repo, "latest")
            admin(data, "mirror", "watch", local, "--interval", "1s")
            poll("the first sight", lambda: recorded(server, local, "latest", image.digest))
            limit = Fault(
                r"/manifests/latest$", "rate_limit", retry_after="2", times=1, methods=("HEAD",)
            )
            proxy.add(limit)
            poll("the 429", lambda: limit.times == 0, timeout=10)
            fired = time.monotonic()
            heads = _heads(proxy.seen, repo)
            poll("the HEAD after it", lambda: _heads(proxy.seen, repo) > heads, timeout=10)
            assert time.monotonic() - fired >= 1.5  # Retry-After: 2 (polled every 0.1 s)
            assert len(history(server, local, "latest")) == 1
        finally:
            server.stop()


def _heads(seen: list[tuple[str, str]], repo: str) -> int:
    return sum(1 for m, p in list(seen) if m == "HEAD" and p == f"/v2/{repo}/manifests/latest")


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


class FakeTime:
    """Milliseconds that pass only when the code under test sleeps."""

    def __init__(self) -> None:
        self.ms = 1_700_000_000_000
        self.waits: list[float] = []

    def clock_ms(self) -> int:
        return self.ms

    def clock_s(self) -> float:
        return self.ms / 1000

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.ms += round(seconds * 1000)


@pytest.fixture
async def sync(tmp_path: Path) -> AsyncIterator[tuple[MirrorSync, SqlMetadataStore]]:
    meta = await SqlMetadataStore.open(f"sqlite:///{tmp_path / 'meta.db'}")
    driver = FilesystemDriver(tmp_path / "blobs")
    try:
        yield MirrorSync(meta, meta, meta, driver), meta
    finally:
        await driver.close()
        await meta.close()


@pytest.mark.parametrize(
    ("fault", "waits"),
    [
        # Down: 1 s, 2 s, 4 s; the next wait (8 s) would end past the patience (10 s).
        (Fault(".", "status", status=503), [1.0, 2.0, 4.0]),
        # Rate-limited beyond the client's own wait: at least the Retry-After (5 s); the next
        # wait (10 s) would end past the patience.
        (Fault(".", "rate_limit", retry_after="5"), [5.0]),
    ],
)
@pytest.mark.anyio
async def test_a_round_retries_with_backoff_within_its_patience_and_records_nothing(
    sync: tuple[MirrorSync, SqlMetadataStore],
    distribution: Distribution,
    distribution_http: httpx.Client,
    fault: Fault,
    waits: list[float],
) -> None:
    repo = fresh_repository()
    push_image(distribution_http, repo, "latest")
    syncer, meta = sync
    fake = FakeTime()
    mirrored = Mirrored(MirrorRecord("dist", distribution.url), RepoName(f"dist/{repo}"), repo)
    with fault_proxy(distribution.url) as proxy:
        proxy.add(fault)
        async with Upstream(proxy.url, max_retry_wait=0) as upstream:
            result = await WatchRound(syncer, meta, sleep=fake.sleep, clock_ms=fake.clock_ms).run(
                Watch(mirrored.local), mirrored, upstream, patience_ms=10_000
            )
    assert fake.waits == waits
    assert result.error is not None and result.error.startswith("stopped: ")
    assert (result.checked, result.moved, result.credentials_rejected) == (0, 0, False)
    assert await meta.resolve_tag(mirrored.local, Tag("latest")) is None


@pytest.mark.anyio
async def test_every_request_of_a_watch_client_waits_for_a_token(
    distribution: Distribution, distribution_http: httpx.Client
) -> None:
    repo = fresh_repository()
    for tag in ("a", "b", "c", "d"):
        push_image(distribution_http, repo, tag)
    fake = FakeTime()
    bucket = TokenBucket(2, clock=fake.clock_s, sleep=fake.sleep)
    async with Upstream(distribution.url, transport=RateLimitedTransport(bucket)) as upstream:
        tags = await upstream.list_tags(repo)
        for tag in tags:
            assert await upstream.head_manifest(repo, tag) is not None
    # Five requests at 2 a second, a burst of 2: the other three waited half a second each.
    assert fake.waits == [0.5, 0.5, 0.5]


@pytest.mark.anyio
async def test_the_token_bucket_keeps_the_rate_and_its_burst() -> None:
    fake = FakeTime()
    bucket = TokenBucket(10, clock=fake.clock_s, sleep=fake.sleep)
    for _ in range(30):
        await bucket.acquire()
    assert len(fake.waits) == 20  # a second's worth at once, the 20 others waited
    assert sum(fake.waits) == pytest.approx(2.0, abs=0.01)  # at 10 a second
    fake.ms += 60_000  # idle for a minute: still only a second's worth of burst
    waits = len(fake.waits)
    for _ in range(11):
        await bucket.acquire()
    assert len(fake.waits) == waits + 1
