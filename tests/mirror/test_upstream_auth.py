"""The upstream client against a tagtrail with auth on: the Docker token flow with
credentials (tokens cached per scope until they expire), refusals, tag pages, the upstream's
own tag history, and credentials kept out of messages, reprs and logs."""

from __future__ import annotations

import asyncio
import base64
import logging
import time
import uuid
from collections.abc import Callable

import httpx
import pytest
from pydantic import SecretStr

from tagtrail.upstream import Upstream, UpstreamUnauthorized
from tests.auth.helpers import ADMIN_PASSWORD
from tests.mirror.conftest import UPSTREAM_ORG
from tests.mirror.faults import Fault, fault_proxy
from tests.mirror.upstreams import OCI_MANIFEST, push_image
from tests.server import RunningServer


class CountingTransport(httpx.AsyncHTTPTransport):
    """A real transport that remembers the path of every request it sends."""

    def __init__(self) -> None:
        super().__init__()
        self.paths: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        return await super().handle_async_request(request)


def repo() -> str:
    return f"{UPSTREAM_ORG}/{uuid.uuid4().hex[:10]}"


def admin_upstream(
    server: RunningServer,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Upstream:
    password = SecretStr(ADMIN_PASSWORD)
    return Upstream(server.url, "admin", password, transport=transport, clock=clock)


def test_token_flow_with_credentials_and_token_cache(
    auth_upstream: RunningServer, auth_upstream_http: httpx.Client
) -> None:
    name = repo()
    image = push_image(auth_upstream_http, name, "v1")
    counting = CountingTransport()
    now = [1000.0]

    async def run() -> None:
        async with admin_upstream(auth_upstream, transport=counting, clock=lambda: now[0]) as up:
            head = await up.head_manifest(name, "v1")
            assert head is not None
            assert head.digest == image.digest
            fetched = await up.get_manifest(name, "v1")
            assert fetched.data == image.manifest
            assert fetched.media_type == OCI_MANIFEST
            # One challenge and one token for the scope; the GET reused the token.
            assert counting.paths.count("/token") == 1
            now[0] += 10_000  # past any token's expires_in: a fresh token
            assert await up.head_manifest(name, "v1") is not None
            assert counting.paths.count("/token") == 2

    asyncio.run(run())


def test_anonymous_is_refused_on_a_private_repository(
    auth_upstream: RunningServer, auth_upstream_http: httpx.Client
) -> None:
    name = repo()
    push_image(auth_upstream_http, name, "v1")

    async def run() -> None:
        async with Upstream(auth_upstream.url) as upstream:
            with pytest.raises(UpstreamUnauthorized):
                await upstream.get_manifest(name, "v1")

    asyncio.run(run())


def test_credentials_stay_out_of_errors_reprs_and_logs(
    auth_upstream: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "wrong-" + uuid.uuid4().hex
    secrets = [wrong, base64.b64encode(f"admin:{wrong}".encode()).decode()]
    caplog.set_level(logging.DEBUG)

    async def run() -> tuple[BaseException, str]:
        async with Upstream(auth_upstream.url, "admin", SecretStr(wrong)) as upstream:
            with pytest.raises(UpstreamUnauthorized) as refused:
                await upstream.head_manifest(repo(), "v1")
            return refused.value, repr(upstream)

    error, upstream_repr = asyncio.run(run())
    shown = [str(error), repr(error), upstream_repr, caplog.text]
    assert "admin" in str(error)  # it names whose credentials were refused
    for text in shown:
        for secret in secrets:
            assert secret not in text


def test_tags_follow_link_pages(
    auth_upstream: RunningServer,
    auth_upstream_http: httpx.Client,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    name = repo()
    for tag in ("a", "b", "c", "d", "e"):
        push_image(auth_upstream_http, name, tag)
    monkeypatch.setattr("tagtrail.upstream.client.TAGS_PAGE", 2)
    counting = CountingTransport()

    async def run() -> list[str]:
        async with admin_upstream(auth_upstream, transport=counting) as upstream:
            return await upstream.list_tags(name)

    assert sorted(asyncio.run(run())) == ["a", "b", "c", "d", "e"]
    # Three pages of at most two, each once after the token (the first also before it).
    assert counting.paths.count(f"/v2/{name}/tags/list") == 4


def test_tag_history_of_an_upstream_that_keeps_one(
    auth_upstream: RunningServer, auth_upstream_http: httpx.Client
) -> None:
    name = repo()
    first = push_image(auth_upstream_http, name, "v1")
    second = push_image(auth_upstream_http, name, "v1")

    async def run() -> object:
        async with admin_upstream(auth_upstream) as upstream:
            return await upstream.tag_history(name, "v1")

    moves = asyncio.run(run())
    assert isinstance(moves, list)
    assert [m.digest for m in moves] == [first.digest, second.digest]
    assert all(m.timestamp for m in moves)


def test_basic_challenge_is_answered_with_basic(
    auth_upstream: RunningServer, auth_upstream_http: httpx.Client
) -> None:
    """An upstream challenging with Basic (the proxy, in front of a tagtrail that checks the
    credentials) gets them on every request, and no token is asked for."""
    name = repo()
    image = push_image(auth_upstream_http, name, "v1")
    with fault_proxy(auth_upstream.url) as proxy:
        proxy.add(Fault("/v2/", "basic_challenge"))

        async def run() -> None:
            async with Upstream(proxy.url, "admin", SecretStr(ADMIN_PASSWORD)) as upstream:
                assert (await upstream.get_manifest(name, "v1")).digest == image.digest
                assert await upstream.list_tags(name) == ["v1"]
            async with Upstream(proxy.url) as anonymous:
                with pytest.raises(UpstreamUnauthorized, match="asks for credentials"):
                    await anonymous.head_manifest(name, "v1")

        asyncio.run(run())
        # The challenge once, then Basic on the GET's retry and on the tag list at once.
        assert [path for _, path in proxy.seen] == [
            f"/v2/{name}/manifests/v1",
            f"/v2/{name}/manifests/v1",
            f"/v2/{name}/tags/list",
            f"/v2/{name}/manifests/v1",
        ]
