"""The blob stream (``tagtrail.upstream.blob_stream``, aiohttp) against real servers: the token
flow through the keychain, a redirect to another origin (a CDN) that gets no Authorization
and whose signed URL stays out of messages, 429 waited out, the watch's rate limit counted,
and the bytes handed on in pieces of a MiB."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import aiohttp.web
import httpx
import pytest
from pydantic import SecretStr

from tagtrail.upstream import Upstream, UpstreamUnauthorized, UpstreamUnavailable
from tagtrail.upstream.blob_stream import PIECE_BYTES
from tagtrail.upstream.rate_limit import RateLimitedTransport, TokenBucket
from tests.auth.helpers import ADMIN_PASSWORD
from tests.mirror.conftest import UPSTREAM_ORG
from tests.mirror.faults import Fault, fault_proxy
from tests.mirror.mirror_server import PullThrough, pull_through, repository
from tests.mirror.test_upstream_auth import CountingTransport
from tests.mirror.upstreams import Distribution, push_blob, push_image, sha256
from tests.server import RunningServer

PASSWORD = "cdn-" + uuid.uuid4().hex
SIGNATURE = "sig-" + uuid.uuid4().hex
TOKEN = "tok-" + uuid.uuid4().hex


async def _read(upstream: Upstream, name: str, digest: str) -> list[bytes]:
    async with upstream.open_blob(name, digest) as blob:
        return [chunk async for chunk in blob]


@dataclass
class CdnUpstream:
    """A registry front on one port that challenges for a Bearer token and redirects blob
    GETs (307) to a CDN on another port, as Docker Hub and S3-backed registries do."""

    blob: bytes
    cdn_status: int = 200
    front_auth: list[str | None] = field(default_factory=list)
    cdn_auth: list[str | None] = field(default_factory=list)
    front_url: str = ""
    cdn_url: str = ""

    async def front(self, request: aiohttp.web.Request) -> aiohttp.web.StreamResponse:
        self.front_auth.append(request.headers.get("Authorization"))
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            challenge = (
                f'Bearer realm="{self.front_url}/token",service="front",'
                f'scope="repository:{request.match_info["name"]}:pull"'
            )
            return aiohttp.web.Response(status=401, headers={"WWW-Authenticate": challenge})
        target = f"{self.cdn_url}/data/{request.match_info['digest']}?signature={SIGNATURE}"
        raise aiohttp.web.HTTPTemporaryRedirect(target)

    async def token(self, request: aiohttp.web.Request) -> aiohttp.web.Response:
        expected = "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return aiohttp.web.Response(status=401)
        return aiohttp.web.json_response({"token": TOKEN, "expires_in": 300})

    async def cdn(self, request: aiohttp.web.Request) -> aiohttp.web.Response:
        self.cdn_auth.append(request.headers.get("Authorization"))
        assert request.query.get("signature") == SIGNATURE
        if self.cdn_status != 200:
            return aiohttp.web.Response(status=self.cdn_status)
        return aiohttp.web.Response(body=self.blob, content_type="application/octet-stream")


@pytest.fixture
def cdn_upstream() -> Iterator[CdnUpstream]:
    """Both servers on 127.0.0.1, in a thread with its own loop (the tests run their own)."""
    served = CdnUpstream(os.urandom(3 * PIECE_BYTES // 2))
    front = aiohttp.web.Application()
    front.router.add_get("/v2/{name:.+}/blobs/{digest}", served.front)
    front.router.add_get("/token", served.token)
    cdn = aiohttp.web.Application()
    cdn.router.add_get("/data/{digest}", served.cdn)
    loop = asyncio.new_event_loop()
    runners = [aiohttp.web.AppRunner(app) for app in (front, cdn)]
    urls = []
    for runner in runners:
        loop.run_until_complete(runner.setup())
        site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        urls.append(f"http://127.0.0.1:{port}")
    served.front_url, served.cdn_url = urls
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        for runner in runners:
            asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


def test_redirect_to_another_origin_gets_no_authorization(cdn_upstream: CdnUpstream) -> None:
    digest = sha256(cdn_upstream.blob)
    counting = CountingTransport()

    async def run() -> list[bytes]:
        upstream = Upstream(
            cdn_upstream.front_url, "admin", SecretStr(PASSWORD), transport=counting
        )
        async with upstream:
            return await _read(upstream, "lib/app", digest)

    assert b"".join(asyncio.run(run())) == cdn_upstream.blob
    # The challenge answered through httpx's token flow, the GET sent again with the token.
    assert counting.paths == ["/token"]
    assert cdn_upstream.front_auth == [None, f"Bearer {TOKEN}"]
    assert cdn_upstream.cdn_auth == [None]


def test_a_failing_cdn_is_unavailable_without_secrets(cdn_upstream: CdnUpstream) -> None:
    cdn_upstream.cdn_status = 503

    async def run() -> BaseException:
        async with Upstream(cdn_upstream.front_url, "admin", SecretStr(PASSWORD)) as upstream:
            with pytest.raises(UpstreamUnavailable) as failed:
                await _read(upstream, "lib/app", sha256(cdn_upstream.blob))
            return failed.value

    error = asyncio.run(run())
    assert "503" in str(error)
    for secret in (PASSWORD, SIGNATURE, TOKEN):
        assert secret not in str(error)
        assert secret not in repr(error)


def test_blob_through_the_token_flow_and_refused_anonymously(
    auth_upstream: RunningServer, auth_upstream_http: httpx.Client
) -> None:
    name = f"{UPSTREAM_ORG}/{uuid.uuid4().hex[:10]}"
    layer = push_image(auth_upstream_http, name, "v1").layers[0]
    digest = sha256(layer)

    async def run() -> bytes:
        async with Upstream(auth_upstream.url) as anonymous:
            with pytest.raises(UpstreamUnauthorized):
                await _read(anonymous, name, digest)
        password = SecretStr(ADMIN_PASSWORD)
        async with Upstream(auth_upstream.url, "admin", password) as upstream:
            return b"".join(await _read(upstream, name, digest))

    assert asyncio.run(run()) == layer


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def test_blob_429_is_waited_out(
    distribution: Distribution, distribution_http: httpx.Client
) -> None:
    name = f"stream/{uuid.uuid4().hex[:10]}"
    data = os.urandom(4096)
    digest = push_blob(distribution_http, name, data)
    sleeps = Sleeps()

    async def run(url: str) -> bytes:
        async with Upstream(url, sleep=sleeps) as upstream:
            return b"".join(await _read(upstream, name, digest))

    with fault_proxy(distribution.url) as proxy:
        proxy.add(Fault("/blobs/", "rate_limit", retry_after="2", times=1))
        assert asyncio.run(run(proxy.url)) == data
    assert sleeps.waits == [2.0]


class CountingBucket(TokenBucket):
    def __init__(self) -> None:
        super().__init__(1000.0)
        self.taken = 0

    async def acquire(self) -> None:
        self.taken += 1
        await super().acquire()


def test_blob_requests_take_the_watch_rate_limit_and_come_in_big_pieces(
    distribution: Distribution, distribution_http: httpx.Client
) -> None:
    name = f"stream/{uuid.uuid4().hex[:10]}"
    data = os.urandom(5 * PIECE_BYTES // 2)
    digest = push_blob(distribution_http, name, data)
    bucket = CountingBucket()

    async def run() -> list[bytes]:
        transport = RateLimitedTransport(bucket)
        async with Upstream(distribution.url, transport=transport) as upstream:
            return await _read(upstream, name, digest)

    chunks = asyncio.run(run())
    assert b"".join(chunks) == data
    assert hashlib.sha256(data).hexdigest() == digest.partition(":")[2]
    assert bucket.taken == 1  # the blob's GET; Distribution asks for no token
    # A MiB or more a piece, but the last: per-piece costs stay small next to the bytes.
    assert all(len(chunk) >= PIECE_BYTES for chunk in chunks[:-1])
    assert len(chunks) <= 3


@pytest.fixture(scope="module")
def pulling(
    tmp_path_factory: pytest.TempPathFactory, distribution: Distribution
) -> Iterator[PullThrough]:
    with pull_through(tmp_path_factory.mktemp("blob-stream") / "data", distribution) as running:
        yield running


def test_a_blob_failing_before_its_first_byte_gets_an_oci_error(pulling: PullThrough) -> None:
    """A blob within one piece is held back whole until verified: when it fails, nothing was
    sent, and the pull gets UNAVAILABLE (not a 500, not a cut connection)."""
    repo = repository()
    data = os.urandom(64 * 1024)
    with pulling.upstream() as upstream, pulling.client() as http:
        digest = push_blob(upstream, repo, data)
        pulling.proxy.add(Fault(f"/blobs/{digest}", "corrupt", methods=("GET",), times=1))
        refused = http.get(f"/v2/dist/{repo}/blobs/{digest}")
        assert refused.status_code == 503, refused.text
        assert refused.json()["errors"][0]["code"] == "UNAVAILABLE"
        assert not pulling.blob_file(digest).exists()
        pulled = http.get(f"/v2/dist/{repo}/blobs/{digest}")
        assert (pulled.status_code, pulled.content == data) == (200, True)


def test_blob_answers_a_basic_challenge(
    auth_upstream: RunningServer, auth_upstream_http: httpx.Client
) -> None:
    """Basic asked for on the blob's GET: the keychain notes it, the GET goes once more with
    the credentials; without any, the refusal says so."""
    name = f"{UPSTREAM_ORG}/{uuid.uuid4().hex[:10]}"
    layer = push_image(auth_upstream_http, name, "v1").layers[0]
    digest = sha256(layer)
    with fault_proxy(auth_upstream.url) as proxy:
        proxy.add(Fault("/v2/", "basic_challenge"))

        async def run() -> bytes:
            async with Upstream(proxy.url) as anonymous:
                with pytest.raises(UpstreamUnauthorized, match="asks for credentials"):
                    await _read(anonymous, name, digest)
            password = SecretStr(ADMIN_PASSWORD)
            async with Upstream(proxy.url, "admin", password) as upstream:
                return b"".join(await _read(upstream, name, digest))

        assert asyncio.run(run()) == layer
        assert [path for _, path in proxy.seen][-2:] == [f"/v2/{name}/blobs/{digest}"] * 2
