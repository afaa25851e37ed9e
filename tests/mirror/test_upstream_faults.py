"""The upstream client when the upstream misbehaves, through the fault-injecting proxy in front
of a real Distribution: corrupted and truncated bodies are never passed off as content, 5xx
and dropped connections are ``UpstreamUnavailable``, 429 is waited out within its bound."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tagtrail.upstream import (
    Upstream,
    UpstreamInvalid,
    UpstreamRateLimited,
    UpstreamUnavailable,
)
from tests.mirror.faults import Fault, FaultProxy, fault_proxy
from tests.mirror.upstreams import Distribution, Image, push_image
from tests.server import free_port


@pytest.fixture
def proxy(distribution: Distribution) -> Iterator[FaultProxy]:
    with fault_proxy(distribution.url) as running:
        yield running


@pytest.fixture
def image(distribution_http: httpx.Client) -> tuple[str, Image]:
    name = f"faults/{uuid.uuid4().hex[:10]}"
    return name, push_image(distribution_http, name, "v1", layers=1)


class Sleeps:
    """Records the waits asked for instead of waiting them."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def layer_digest(image: Image) -> str:
    return "sha256:" + hashlib.sha256(image.layers[0]).hexdigest()


async def _collect(
    upstream: Upstream, name: str, digest: str, into: list[bytes] | None = None
) -> bytes:
    """The blob's chunks, each appended to ``into`` as it arrives."""
    received = [] if into is None else into
    async with upstream.open_blob(name, digest) as blob:
        async for chunk in blob:
            received.append(chunk)
    return b"".join(received)


@pytest.mark.parametrize("reference", ["v1", "digest"])
def test_corrupted_manifest_is_refused(
    proxy: FaultProxy, image: tuple[str, Image], reference: str
) -> None:
    name, pushed = image
    ref = pushed.digest if reference == "digest" else reference
    proxy.add(Fault("/manifests/", "corrupt"))

    async def run() -> None:
        async with Upstream(proxy.url) as upstream:
            with pytest.raises(UpstreamInvalid, match="hashes to"):
                await upstream.get_manifest(name, ref)

    asyncio.run(run())


def test_corrupted_blob_raises_at_the_end_of_its_stream(
    proxy: FaultProxy, image: tuple[str, Image]
) -> None:
    name, pushed = image
    proxy.add(Fault("/blobs/", "corrupt"))
    received: list[bytes] = []

    async def run() -> None:
        async with Upstream(proxy.url) as upstream:
            with pytest.raises(UpstreamInvalid, match="hashed to"):
                await _collect(upstream, name, layer_digest(pushed), received)

    asyncio.run(run())
    assert len(b"".join(received)) == len(pushed.layers[0])  # it streamed, then refused


def test_truncated_blob_is_unavailable(proxy: FaultProxy, image: tuple[str, Image]) -> None:
    name, pushed = image
    proxy.add(Fault("/blobs/", "truncate"))

    async def run() -> None:
        async with Upstream(proxy.url) as upstream:
            with pytest.raises(UpstreamUnavailable, match="midway"):
                await _collect(upstream, name, layer_digest(pushed))

    asyncio.run(run())


@pytest.mark.parametrize("fault", [Fault("/manifests/", "drop"), Fault("/manifests/", "status")])
def test_dropped_connection_and_5xx_are_unavailable(
    proxy: FaultProxy, image: tuple[str, Image], fault: Fault
) -> None:
    name, _ = image
    proxy.add(fault)

    async def run() -> None:
        async with Upstream(proxy.url) as upstream:
            with pytest.raises(UpstreamUnavailable):
                await upstream.head_manifest(name, "v1")

    asyncio.run(run())


def test_nothing_listening_is_unavailable() -> None:
    async def run() -> None:
        async with Upstream(f"http://127.0.0.1:{free_port()}") as upstream:
            with pytest.raises(UpstreamUnavailable, match="did not answer"):
                await upstream.list_tags("any/thing")

    asyncio.run(run())


def test_rate_limit_is_waited_out(proxy: FaultProxy, image: tuple[str, Image]) -> None:
    name, pushed = image
    proxy.add(Fault("/manifests/", "rate_limit", retry_after="2", times=2))
    sleeps = Sleeps()

    async def run() -> None:
        async with Upstream(proxy.url, sleep=sleeps) as upstream:
            head = await upstream.head_manifest(name, "v1")
            assert head is not None
            assert head.digest == pushed.digest

    asyncio.run(run())
    assert sleeps.waits == [2.0, 2.0]
    # Asked with HEAD only (Docker Hub's rate limit counts GETs), three times.
    assert proxy.seen == [("HEAD", f"/v2/{name}/manifests/v1")] * 3


@pytest.mark.parametrize(("retry_after", "waits"), [("120", []), ("1", [1.0, 1.0, 1.0])])
def test_rate_limit_beyond_the_bound_is_reported(
    proxy: FaultProxy, image: tuple[str, Image], retry_after: str, waits: list[float]
) -> None:
    name, _ = image
    proxy.add(Fault("/manifests/", "rate_limit", retry_after=retry_after))
    sleeps = Sleeps()

    async def run() -> None:
        async with Upstream(proxy.url, sleep=sleeps, max_retry_wait=3) as upstream:
            with pytest.raises(UpstreamRateLimited, match="rate-limits") as limited:
                await upstream.head_manifest(name, "v1")
            assert limited.value.retry_after == float(retry_after)

    asyncio.run(run())
    assert sleeps.waits == waits
