"""``Upstream``: what a mirror asks of an upstream registry, each answer verified.

Manifests and blobs are checked against their digests before a caller sees them as good: a
manifest's bytes before ``get_manifest`` returns, a blob's at the end of ``open_blob``'s stream
(which raises instead of ending, so a caller storing while streaming discards what it wrote).
Tags are read with HEAD (Docker Hub's rate limit counts GETs, not HEADs). A ``429`` is waited
out when its ``Retry-After`` fits the bounded wait, else reported. Failures map onto the
``tagtrail.upstream.errors`` classes, whose messages never carry credentials or tokens.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from tagtrail.types import (
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    MAX_MANIFEST_BYTES,
    OCI_INDEX,
    OCI_MANIFEST,
    is_digest_reference,
)
from tagtrail.upstream.auth import Keychain, ScopedAuth
from tagtrail.upstream.errors import (
    UpstreamError,
    UpstreamInvalid,
    UpstreamNotFound,
    UpstreamRateLimited,
    UpstreamUnauthorized,
    UpstreamUnavailable,
)
from tagtrail.upstream.names import api_url, upstream_repository

ACCEPT = ", ".join((OCI_INDEX, OCI_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST))
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
# The longest a request waits out 429s in all; beyond it the caller hears UpstreamRateLimited.
DEFAULT_MAX_RETRY_WAIT = 30.0
TAGS_PAGE = 1000
# Answers of a registry that serves no tag history API.
_NO_HISTORY = frozenset({404, 405, 501})


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


@dataclass(frozen=True, slots=True)
class BlobStream:
    """A blob on its way: ``size`` as the upstream announced it (None if it did not), and its
    bytes by ``async for``, verified against the digest at the end."""

    size: int | None
    chunks: AsyncIterator[bytes]

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self.chunks


@dataclass(frozen=True, slots=True)
class UpstreamMove:
    """One record of an upstream's tag history: when (as it wrote it) and where the tag went."""

    timestamp: str
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
        verify: ssl.SSLContext | bool = True
        if ca_bundle is not None:
            verify = ssl.create_default_context(cafile=str(ca_bundle))
        self._http = httpx.AsyncClient(
            base_url=self.url,
            timeout=timeout,
            verify=verify,
            follow_redirects=True,  # blobs are often served from a CDN by redirect
            headers={"User-Agent": "tagtrail-mirror"},
            transport=transport,
        )

    def __repr__(self) -> str:
        who = "anonymous" if self._keys.username is None else "with credentials"
        return f"Upstream({self.url!r}, {who})"

    async def __aenter__(self) -> Upstream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
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
            found = _json(response, self.host).get("tags") or []
            if not isinstance(found, list) or not all(isinstance(t, str) for t in found):
                raise UpstreamInvalid(f"{self.host} sent a malformed tag list for {name}")
            tags += found
            url = _next_page(response)
        return tags

    async def tag_history(self, repo: str, tag: str) -> list[UpstreamMove] | None:
        """The upstream's own record of ``tag`` (``_chainguard/history``, oldest first, every
        ``Link`` page), or None when it serves no such API (404, 405, 501)."""
        name = self.repository(repo)
        url: str | None = f"/v2/{name}/_chainguard/history/{tag}"
        moves: list[UpstreamMove] = []
        while url is not None:
            response = await self._send("GET", url, name)
            if response.status_code in _NO_HISTORY:
                return None
            self._expect(response, "GET", name, f"history of {tag}")
            records = _json(response, self.host).get("history")
            if not isinstance(records, list):
                raise UpstreamInvalid(f"{self.host} sent a malformed history of {name}:{tag}")
            for record in records:
                try:
                    moves.append(UpstreamMove(record["updateTimestamp"], record["digest"]))
                except (KeyError, TypeError) as exc:
                    raise UpstreamInvalid(
                        f"{self.host} sent a malformed history record of {name}:{tag}"
                    ) from exc
            url = _next_page(response)
        return moves

    # -- blobs -------------------------------------------------------------------------------

    @asynccontextmanager
    async def open_blob(self, repo: str, digest: str) -> AsyncIterator[BlobStream]:
        """The blob as a ``BlobStream`` (its size before its bytes, so a pull-through answer
        can send Content-Length while it streams), closed when the block ends. Iterating it
        raises ``UpstreamInvalid`` at the end when the bytes do not hash to ``digest``, and
        ``UpstreamUnavailable`` when the connection drops: what was taken from it is then
        not the blob."""
        name = self.repository(repo)
        algorithm, _, expected = digest.partition(":")
        if algorithm not in ("sha256", "sha512") or not expected:
            raise ValueError(f"not a digest: {digest[:80]!r}")
        request = self._build("GET", f"/v2/{name}/blobs/{digest}")
        # The blob's own bytes are what hash to its digest: no transfer encoding undone.
        request.headers["Accept-Encoding"] = "identity"
        response = await self._send_request(request, name, stream=True)
        try:
            if response.status_code == 404:
                raise UpstreamNotFound(f"{self.host} has no blob {digest} in {name}")
            if response.status_code != 200:
                self._expect(response, "GET", name, digest)
                raise UpstreamError(f"{self.host} answered {response.status_code} to a blob")
            length = response.headers.get("content-length")
            size = int(length) if length and length.isdigit() else None
            yield BlobStream(size, self._checked(response, name, algorithm, expected))
        finally:
            await response.aclose()

    async def _checked(
        self, response: httpx.Response, name: str, algorithm: str, expected: str
    ) -> AsyncIterator[bytes]:
        hasher = hashlib.new(algorithm)
        try:
            async for chunk in response.aiter_raw():
                hasher.update(chunk)
                yield chunk
        except httpx.TransportError as exc:
            raise UpstreamUnavailable(
                f"{self.host} dropped the blob {algorithm}:{expected} of {name} midway"
            ) from exc
        if hasher.hexdigest() != expected:
            raise UpstreamInvalid(
                f"the blob {algorithm}:{expected} of {name} from {self.host} "
                f"hashed to {algorithm}:{hasher.hexdigest()}"
            )

    # -- sending -----------------------------------------------------------------------------

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
            wait = _retry_after(response)
            if wait is None or waited + wait > self.max_retry_wait:
                after = "" if wait is None else f" (Retry-After {wait:.0f} s)"
                raise UpstreamRateLimited(
                    f"{self.host} rate-limits {request.method} {request.url.path}{after}", wait
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


def _json(response: httpx.Response, host: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError as exc:
        raise UpstreamInvalid(f"{host} answered {response.url.path} with no JSON") from exc
    if not isinstance(body, dict):
        raise UpstreamInvalid(f"{host} answered {response.url.path} with no JSON object")
    return body


def _next_page(response: httpx.Response) -> str | None:
    """The ``Link`` header's ``rel="next"`` target, resolved against the request's URL."""
    for link in response.links.values():
        if "next" in link.get("rel", "").lower().split():
            return str(response.url.join(link["url"]))
    return None


def _retry_after(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds (delta-seconds or an HTTP date), None when absent or bad."""
    raw = response.headers.get("retry-after", "").strip()
    if not raw:
        return None
    if raw.isdigit():
        return float(raw)
    try:
        moment = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(moment.timestamp() - time.time(), 0.0)
