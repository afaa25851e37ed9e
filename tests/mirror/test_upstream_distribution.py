"""The upstream client against CNCF Distribution, anonymously: manifests by tag and digest,
tag pages, blobs streamed and verified, and no history API."""

from __future__ import annotations

import asyncio
import hashlib
import uuid

import httpx
import pytest

from tagtrail.upstream import Upstream, UpstreamNotFound
from tests.mirror.upstreams import OCI_MANIFEST, Distribution, push_image


def repo() -> str:
    return f"mirror/{uuid.uuid4().hex[:10]}"


async def _collect(upstream: Upstream, name: str, digest: str) -> bytes:
    async with upstream.open_blob(name, digest) as blob:
        assert blob.size is not None
        data = b"".join([chunk async for chunk in blob])
        assert len(data) == blob.size
        return data


def test_manifest_by_tag_and_digest(
    distribution: Distribution, distribution_http: httpx.Client
) -> None:
    name = repo()
    image = push_image(distribution_http, name, "v1")

    async def run() -> None:
        async with Upstream(distribution.url) as upstream:
            head = await upstream.head_manifest(name, "v1")
            assert head is not None
            assert (head.digest, head.media_type, head.size) == (
                image.digest,
                OCI_MANIFEST,
                len(image.manifest),
            )
            by_tag = await upstream.get_manifest(name, "v1")
            assert (by_tag.data, by_tag.digest, by_tag.media_type) == (
                image.manifest,
                image.digest,
                OCI_MANIFEST,
            )
            by_digest = await upstream.get_manifest(name, image.digest)
            assert by_digest.data == image.manifest
            assert await upstream.head_manifest(name, "absent") is None
            with pytest.raises(UpstreamNotFound):
                await upstream.get_manifest(name, "absent")

    asyncio.run(run())


def test_tags(distribution: Distribution, distribution_http: httpx.Client) -> None:
    """Distribution sends one page whatever ``n`` says (paging: the tagtrail upstream)."""
    name = repo()
    for tag in ("a", "b", "c"):
        push_image(distribution_http, name, tag)

    async def run() -> list[str]:
        async with Upstream(distribution.url) as upstream:
            return await upstream.list_tags(name)

    assert sorted(asyncio.run(run())) == ["a", "b", "c"]


def test_unknown_repository(distribution: Distribution) -> None:
    async def run() -> None:
        async with Upstream(distribution.url) as upstream:
            with pytest.raises(UpstreamNotFound):
                await upstream.list_tags("mirror/never-pushed")

    asyncio.run(run())


def test_blob_streams_and_verifies(
    distribution: Distribution, distribution_http: httpx.Client
) -> None:
    name = repo()
    image = push_image(distribution_http, name, "v1", layers=2)
    layer = image.layers[1]
    digest = "sha256:" + hashlib.sha256(layer).hexdigest()

    async def run() -> None:
        async with Upstream(distribution.url) as upstream:
            assert await _collect(upstream, name, digest) == layer
            with pytest.raises(UpstreamNotFound):
                await _collect(upstream, name, "sha256:" + "0" * 64)

    asyncio.run(run())


def test_no_history_api(distribution: Distribution, distribution_http: httpx.Client) -> None:
    name = repo()
    push_image(distribution_http, name, "v1")

    async def run() -> object:
        async with Upstream(distribution.url) as upstream:
            return await upstream.tag_history(name, "v1")

    assert asyncio.run(run()) is None
