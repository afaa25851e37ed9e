"""``Upstream``: what a mirror asks of an upstream registry, each answer verified.

Manifests and blobs are checked against their digests before a caller sees them as good: a
manifest's bytes before ``get_manifest`` returns, a blob's at the end of ``open_blob``'s stream
(which raises instead of ending, so a caller storing while streaming discards what it wrote).
Tags are read with HEAD (Docker Hub's rate limit counts GETs, not HEADs). Blobs stream through
aiohttp (``tagtrail.upstream.blob_stream`` says why), the rest goes through httpx. A ``429`` is
waited out when its ``Retry-After`` fits the bounded wait, else reported. Failures map onto the
``tagtrail.upstream.errors`` classes, whose messages never carry credentials or tokens.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import ssl
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from tagtrail.challenges import Challenge
from tagtrail.types import (
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    MAX_MANIFEST_BYTES,
    OCI_INDEX,
    OCI_MANIFEST,
    is_digest_reference,
)
from tagtrail.upstream.auth import Keychain, ScopedAuth
from tagtrail.upstream.blob_stream import BlobRequest, BlobStreamer
from tagtrail.upstream.blob_stream import BlobStream as BlobStream  # re-exported
from tagtrail.upstream.errors import (
    UpstreamError,
    UpstreamInvalid,
    UpstreamNotFound,
    UpstreamUnauthorized,
    UpstreamUnavailable,
)
from tagtrail.upstream.history import UpstreamMove, read_history
from tagtrail.upstream.names import api_url, upstream_repository
from tagtrail.upstream.rate_limit import RateLimitedTransport
from tagtrail.upstream.responses import json_object, next_page, rate_limit_wait

ACCEPT = ", ".join((OCI_INDEX, OCI_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST))
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
# The longest a request waits out 429s in all; beyond it the caller hears UpstreamRateLimited.
DEFAULT_MAX_RETRY_WAIT = 30.0
TAGS_PAGE = 1000


@dataclass(frozen=True, slots=True)
class ManifestHead:
    digest: str
    media_type: str
    size: int


@dataclass(frozen=True, slots=True)
class ManifestBody:
    data: bytes
    media_type: str
    digest: str


class Upstream:
    """One upstream registry at ``url``; ``async with`` it, or ``aclose`` it when done.

    ``ca_bundle`` replaces the system's CAs (an upstream with a private CA, and the tests);
    ``sleep`` and ``clock`` are injectable so the waits can be tested without waiting.
    """

    def __init__(
        self,
        url: str,
        username: str | None = None,
        password: SecretStr | None = None,
        *,
        ca_bundle: Path | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        max_retry_wait: float = DEFAULT_MAX_RETRY_WAIT,
        sleep: Callable[[float], Any] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if (username is None) != (password is None):
            raise ValueError("an upstream takes a username and a password, or neither")
        self.url = api_url(url)
        self._configured = url
        self.host = httpx.URL(self.url).netloc.decode()
        self.max_retry_wait = max_retry_wait
        self._sleep = sleep
        self._keys = Keychain(self.host, username, password, clock)
        # One TLS context for both clients: what httpx trusts, the blob stream trusts.
        if ca_bundle is not None:
            verify = ssl.create_default_context(cafile=str(ca_bundle))
        else:
            verify = _default_tls()
        self._http = httpx.AsyncClient(
            base_url=self.url,
            timeout=timeout,
            verify=verify,
            follow_redirects=True,  # blobs are often served from a CDN by redirect
            headers={"User-Agent": "tagtrail-mirror"},
            transport=transport,
        )
        self._blobs = BlobStreamer(
            self.host,
            authorization=self._keys.header,
            answer=self._answer,
            ssl_context=verify,
            connect_timeout=timeout.connect,
            read_timeout=timeout.read,
            max_retry_wait=max_retry_wait,
            sleep=sleep,
            # A watch's rate limit counts the blob requests too.
            pace=transport.acquire if isinstance(transport, RateLimitedTransport) else None,
        )

    def __repr__(self) -> str:
        who = "anonymous" if self._keys.username is None else "with credentials"
        return f"Upstream({self.url!r}, {who})"

    async def __aenter__(self) -> Upstream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        try:
            await self._blobs.aclose()
        finally:
            await self._http.aclose()

    def repository(self, name: str) -> str:
        """The upstream's name for ``name`` (Docker Hub's ``library/`` for one-part names)."""
        return upstream_repository(self._configured, name)

    async def ping(self) -> None:
        """Raise unless the API base ``/v2/`` answers 2xx, authenticated with no scope (a
        registry that takes no credentials answers anonymously)."""
        response = await self._send_request(self._build("GET", "/v2/"), "", stream=False)
        self._expect(response, "GET", "the API", "base /v2/")

    # -- manifests ---------------------------------------------------------------------------

    async def head_manifest(self, repo: str, reference: str) -> ManifestHead | None:
        """The digest, media type and size ``reference`` resolves to; None when unknown."""
        name = self.repository(repo)
        response = await self._send("HEAD", f"/v2/{name}/manifests/{reference}", name)
        if response.status_code == 404:
            return None
        self._expect(response, "HEAD", name, reference)
        digest = response.headers.get("docker-content-digest")
        if digest is None and is_digest_reference(reference):
            digest = reference
        if not digest:
            raise UpstreamInvalid(f"{self.host} sent no digest for {name}:{reference}")
        return ManifestHead(
            digest,
            _media_type(response),
            int(response.headers.get("content-length", "0")),
        )

    async def get_manifest(self, repo: str, reference: str) -> ManifestBody:
        """The manifest's bytes, checked against the digest asked for (by digest) or the
        one the upstream names (by tag); computed as sha256 where it names none."""
        name = self.repository(repo)
        request = self._build("GET", f"/v2/{name}/manifests/{reference}")
        response = await self._send_request(request, name, stream=True)
        try:
            if response.status_code == 404:
                raise UpstreamNotFound(f"{self.host} has no manifest {name}:{reference}")
            self._expect(response, "GET", name, reference)
            data = await _read_capped(response, MAX_MANIFEST_BYTES, self.host, name, reference)
        finally:
            await response.aclose()
        claimed = reference if is_digest_reference(reference) else None
        claimed = claimed or response.headers.get("docker-content-digest")
        digest = claimed or "sha256:" + hashlib.sha256(data).hexdigest()
        _verify(data, digest, f"manifest {name}:{reference} from {self.host}")
        return ManifestBody(data, _media_type(response), digest)

    # -- tags and history --------------------------------------------------------------------

    async def list_tags(self, repo: str) -> list[str]:
        """Every tag of ``repo``, following the ``Link`` header's pages."""
        name = self.repository(repo)
        url: str | None = f"/v2/{name}/tags/list?n={TAGS_PAGE}"
        tags: list[str] = []
        while url is not None:
            response = await self._send("GET", url, name)
            if response.status_code == 404:
                raise UpstreamNotFound(f"{self.host} has no repository {name}")
            self._expect(response, "GET", name, "tags")
            found = json_object(response, self.host).get("tags") or []
            if not isinstance(found, list) or not all(isinstance(t, str) for t in found):
                raise UpstreamInvalid(f"{self.host} sent a malformed tag list for {name}")
            tags += found
            url = next_page(response)
        return tags

    async def tag_history(self, repo: str, tag: str) -> list[UpstreamMove] | None:
        """The upstream's own record of ``tag``, oldest first, every ``Link`` page: from the
        Tag History API, else the draft OCI extension (``tagtrail.upstream.history``); None
        when it serves neither (404, 405, 501)."""
        name = self.repository(repo)

        async def get(url: str) -> httpx.Response:
            return await self._send("GET", url, name)

        def expect(response: httpx.Response, what: str) -> None:
            self._expect(response, "GET", name, what)

        return await read_history(get, expect, self.host, name, tag)

    # -- blobs -------------------------------------------------------------------------------

    async def head_blob(self, repo: str, digest: str) -> int | None:
        """The blob's size as the upstream announces it; None when it has no such blob."""
        name = self.repository(repo)
        response = await self._send("HEAD", f"/v2/{name}/blobs/{digest}", name)
        if response.status_code == 404:
            return None
        self._expect(response, "HEAD", name, digest)
        length = response.headers.get("content-length", "")
        if not length.isdigit():
            raise UpstreamInvalid(f"{self.host} sent no size for the blob {digest} of {name}")
        return int(length)

    @asynccontextmanager
    async def open_blob(self, repo: str, digest: str) -> AsyncIterator[BlobStream]:
        """The blob as a ``BlobStream`` (its size before its bytes, so a pull-through answer
        can send Content-Length while it streams), closed when the block ends. Iterating it
        raises ``UpstreamInvalid`` at the end when the bytes do not hash to ``digest``, and
        ``UpstreamUnavailable`` when the connection drops: what was taken from it is then
        not the blob."""
        name = self.repository(repo)
        url = str(self._http.base_url.join(f"/v2/{name}/blobs/{digest}"))
        blob = BlobRequest(url, f"repository:{name}:pull", name, digest)
        async with self._blobs.open(blob) as stream:
            yield stream

    # -- sending -----------------------------------------------------------------------------

    async def _answer(self, challenge: Challenge, scope: str) -> None:
        """Run the keychain's answer to ``challenge`` (a token request, or Basic noted)
        through the httpx client, for a request the blob stream sends."""
        flow = self._keys.answer(challenge.scheme, challenge.params, scope)
        try:
            request = next(flow)
            while True:
                try:
                    response = await self._http.send(request)
                except httpx.TransportError as exc:
                    raise UpstreamUnavailable(
                        f"the token service of {self.host} did not answer: "
                        f"{str(exc)[:200] or type(exc).__name__}"
                    ) from exc
                request = flow.send(response)
        except StopIteration:
            return

    def _build(self, method: str, url: str) -> httpx.Request:
        return self._http.build_request(method, url, headers={"Accept": ACCEPT})

    async def _send(self, method: str, url: str, name: str) -> httpx.Response:
        return await self._send_request(self._build(method, url), name, stream=False)

    async def _send_request(
        self, request: httpx.Request, name: str, *, stream: bool
    ) -> httpx.Response:
        """Send with the pull scope's auth (no scope for no ``name``), waiting out 429s within
        ``max_retry_wait``."""
        waited = 0.0
        while True:
            try:
                response = await self._http.send(
                    request,
                    auth=ScopedAuth(self._keys, name and f"repository:{name}:pull"),
                    stream=stream,
                )
            except httpx.TransportError as exc:
                # httpx's messages name the failure (a refused connection, a certificate
                # not verified) and never the request's headers.
                raise UpstreamUnavailable(
                    f"{self.host} did not answer {request.method} {request.url.path}: "
                    f"{str(exc)[:200] or type(exc).__name__}"
                ) from exc
            if response.status_code != 429:
                return response
            await response.aclose()
            wait = rate_limit_wait(
                response.headers.get("retry-after", ""),
                waited,
                self.max_retry_wait,
                f"{self.host} rate-limits {request.method} {request.url.path}",
            )
            waited += wait
            await self._sleep(wait)

    def _expect(self, response: httpx.Response, method: str, name: str, what: str) -> None:
        """Raise for anything but a 2xx, by what the caller should do about it."""
        status = response.status_code
        if 200 <= status < 300:
            return
        summary = f"{self.host} answered {status} to {method} {name} {what}"
        if status in (401, 403):
            raise UpstreamUnauthorized(summary)
        if status >= 500:
            raise UpstreamUnavailable(summary)
        raise UpstreamError(summary)


@functools.cache
def _default_tls() -> ssl.SSLContext:
    """httpx's default context (certifi's CAs), made once: loading the CAs takes ~50 ms,
    which a mirror's first pull would otherwise wait for."""
    return httpx.create_ssl_context()


def _media_type(response: httpx.Response) -> str:
    media_type: str = response.headers.get("content-type", "")
    return media_type.split(";")[0].strip()


def _verify(data: bytes, digest: str, what: str) -> None:
    algorithm, _, expected = digest.partition(":")
    if algorithm not in ("sha256", "sha512"):
        raise UpstreamInvalid(f"{what}: unsupported digest {digest[:80]!r}")
    actual = hashlib.new(algorithm, data).hexdigest()
    if actual != expected:
        raise UpstreamInvalid(f"{what} claims {digest} and hashes to {algorithm}:{actual}")


async def _read_capped(
    response: httpx.Response, cap: int, host: str, name: str, reference: str
) -> bytes:
    data = bytearray()
    try:
        async for chunk in response.aiter_bytes():
            data += chunk
            if len(data) > cap:
                raise UpstreamInvalid(f"{host} sent a manifest {name}:{reference} over {cap} bytes")
    except httpx.TransportError as exc:
        raise UpstreamUnavailable(f"{host} dropped the manifest {name}:{reference}") from exc
    return bytes(data)
