"""Blob bytes from an upstream with aiohttp, verified against their digest as they stream.

httpx is the upstream client everywhere else (tokens, manifests, tags), but its stream of a
big body is slow here: a 100 MB blob from a local Distribution came at 280-340 MB/s through
``httpx.AsyncClient.stream().aiter_raw()`` and at 800-1000 MB/s through aiohttp, curl's pace.
A mirror's first pull of a layer is as fast as this stream, so blobs take aiohttp.

What is the same as the httpx client's: the Authorization comes from the upstream's
``Keychain`` (a 401's challenge is answered by the caller's token flow, through httpx, then the
request goes once more), 429s are waited out within the same bound, the TLS context is the
httpx client's own, and every request takes its turn of the rate limit (``pace``). Redirects
(blobs are often served from a CDN or S3 by 307) are followed here, and the Authorization is
sent to the upstream's own origin only: a CDN's signed URL needs none, and must not see it.

The bytes are handed on in pieces of ``PIECE_BYTES``, each hashed in the event loop (1 ms a
piece). Measured on this project's 2 cores, where a first pull keeps the upstream, the worker
and the client busy at once: hashing in a thread (hashlib releases the GIL) only added thread
hops, 280-295 MB/s against 325-360 inline; pieces of 256 KiB came at 280-310 (every piece
costs a queue put per listener, a storage write and an ASGI message), of 4 MiB at 350-380,
hardly more than 1 MiB for four times the memory held per listener and per fetch.

aiohttp (7 MB a process) is imported when a streamer is made, that is once a mirror is used:
a registry without mirrors never loads it (tests/cli/test_serve_imports.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tagtrail.challenges import Challenge, parse_challenge
from tagtrail.upstream.errors import (
    UpstreamError,
    UpstreamInvalid,
    UpstreamNotFound,
    UpstreamUnauthorized,
    UpstreamUnavailable,
)
from tagtrail.upstream.responses import rate_limit_wait

if TYPE_CHECKING:
    import aiohttp
    from yarl import URL

MAX_REDIRECTS = 10
# The pieces handed on: big enough that per-piece costs (a queue put per listening response,
# a storage write, an ASGI message) stay small next to the bytes, small enough that a client
# gets its first bytes at once.
PIECE_BYTES = 1024 * 1024
# aiohttp stops reading the socket past twice this, buffered and not yet taken: while a piece
# is hashed and handed on, the next one keeps arriving.
READ_BUFFER = PIECE_BYTES


@dataclass(frozen=True, slots=True)
class BlobStream:
    """A blob on its way: ``size`` as the upstream announced it (None if it did not), and its
    bytes by ``async for``, verified against the digest at the end."""

    size: int | None
    chunks: AsyncIterator[bytes]

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self.chunks


@dataclass(frozen=True, slots=True)
class BlobRequest:
    """What the stream asks for, and what it says in errors (never the URL's query: a
    redirect's signed URL carries credentials of its own)."""

    url: str
    scope: str  # the repository's pull scope, for the Authorization
    name: str
    digest: str


class BlobStreamer:
    """One upstream's aiohttp session for blobs; ``aclose`` it with the ``Upstream``.

    ``authorization(scope)`` is the header known for the scope; ``answer(challenge, scope)``
    runs the token flow for a 401's challenge (both the ``Keychain``'s, via the httpx client).
    """

    def __init__(
        self,
        host: str,
        *,
        authorization: Callable[[str], str | None],
        answer: Callable[[Challenge, str], Awaitable[None]],
        ssl_context: ssl.SSLContext,
        connect_timeout: float | None,
        read_timeout: float | None,
        max_retry_wait: float,
        sleep: Callable[[float], Any],
        pace: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        import aiohttp

        self.host = host
        self._authorization = authorization
        self._answer = answer
        self._ssl = ssl_context
        # No sock_read: aiohttp re-arms that timer on every packet it receives, a seventh of
        # the stream's time when profiled; the read timeout is kept per piece instead (below).
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout)
        self._read_timeout = read_timeout
        self._answer_timeout = (
            None if read_timeout is None else read_timeout + (connect_timeout or 0)
        )
        self._max_retry_wait = max_retry_wait
        self._sleep = sleep
        self._pace = pace
        self._session: aiohttp.ClientSession | None = None

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _client(self) -> aiohttp.ClientSession:
        # Made on first use: a session belongs to the running loop, and an ``Upstream`` may be
        # built outside one.
        import aiohttp

        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout,
                headers={"User-Agent": "tagtrail-mirror"},
                auto_decompress=False,  # the blob's own bytes hash to its digest
                read_bufsize=READ_BUFFER,
                connector=aiohttp.TCPConnector(ssl=self._ssl),
            )
        return self._session

    @asynccontextmanager
    async def open(self, blob: BlobRequest) -> AsyncIterator[BlobStream]:
        """The blob's stream, closed when the block ends (see ``Upstream.open_blob``)."""
        algorithm, _, expected = blob.digest.partition(":")
        if algorithm not in ("sha256", "sha512") or not expected:
            raise ValueError(f"not a digest: {blob.digest[:80]!r}")
        response = await self._send(blob)
        try:
            length = response.headers.get("Content-Length")
            size = int(length) if length and length.isdigit() else None
            yield BlobStream(size, self._checked(response, blob, algorithm, expected))
        finally:
            response.release()

    async def _send(self, blob: BlobRequest) -> aiohttp.ClientResponse:
        """The 200 answer to the blob's GET, after the challenge, 429s and redirects."""
        from yarl import URL

        waited = 0.0
        answered = False
        while True:
            response = await self._follow(blob)
            status = response.status
            if status == 200:
                return response
            headers = response.headers
            response.release()
            if status == 401 and not answered and response.url.origin() == URL(blob.url).origin():
                challenge = parse_challenge(headers.get("WWW-Authenticate", ""))
                if challenge is not None:
                    await self._answer(challenge, blob.scope)
                    answered = True
                    continue
            if status == 429:
                wait = rate_limit_wait(
                    headers.get("Retry-After", ""),
                    waited,
                    self._max_retry_wait,
                    f"{self.host} rate-limits GET {blob.name} blob",
                )
                waited += wait
                await self._sleep(wait)
                continue
            raise _failure(self.host, status, blob)

    async def _follow(self, blob: BlobRequest) -> aiohttp.ClientResponse:
        """GET the blob, following redirects; the Authorization only to the upstream."""
        import aiohttp
        from yarl import URL

        origin = URL(blob.url).origin()
        url = URL(blob.url)
        for _ in range(MAX_REDIRECTS + 1):
            headers = {"Accept-Encoding": "identity"}
            authorization = self._authorization(blob.scope) if url.origin() == origin else None
            if authorization is not None:
                headers["Authorization"] = authorization
            if self._pace is not None:
                await self._pace()
            try:
                async with asyncio.timeout(self._answer_timeout):
                    response = await self._client().get(url, headers=headers, allow_redirects=False)
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise _unavailable(self.host, url, exc) from exc
            location = response.headers.get("Location")
            if response.status not in (301, 302, 303, 307, 308) or not location:
                return response
            response.release()
            url = url.join(URL(location))
        raise UpstreamUnavailable(f"{self.host} redirected the blob {blob.digest} too often")

    async def _checked(
        self, response: aiohttp.ClientResponse, blob: BlobRequest, algorithm: str, expected: str
    ) -> AsyncIterator[bytes]:
        """The body in pieces of about ``PIECE_BYTES``, each hashed before it is handed on;
        ``UpstreamInvalid`` instead of the end when the whole does not hash to the digest.
        Each piece must arrive within the read timeout (a MiB in 30 s by default), counted
        while reading only: the consumer may take its time with a piece."""
        import aiohttp

        hasher = hashlib.new(algorithm)
        while True:
            try:
                async with asyncio.timeout(self._read_timeout):
                    parts = await _read_piece(response.content)
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise UpstreamUnavailable(
                    f"{self.host} dropped the blob {blob.digest} of {blob.name} midway"
                ) from exc
            if not parts:
                break
            piece = parts[0] if len(parts) == 1 else b"".join(parts)
            hasher.update(piece)
            yield piece
        if hasher.hexdigest() != expected:
            raise UpstreamInvalid(
                f"the blob {blob.digest} of {blob.name} from {self.host} "
                f"hashed to {algorithm}:{hasher.hexdigest()}"
            )


async def _read_piece(content: aiohttp.StreamReader) -> list[bytes]:
    """What arrives until ``PIECE_BYTES`` did or the body ended (nothing: it had ended)."""
    parts: list[bytes] = []
    size = 0
    while size < PIECE_BYTES:
        chunk = await content.readany()
        if not chunk:
            break
        parts.append(chunk)
        size += len(chunk)
    return parts


def _failure(host: str, status: int, blob: BlobRequest) -> UpstreamError:
    summary = f"{host} answered {status} to GET {blob.name} {blob.digest}"
    if status == 404:
        return UpstreamNotFound(f"{host} has no blob {blob.digest} in {blob.name}")
    if status in (401, 403):
        return UpstreamUnauthorized(summary)
    if status >= 500:
        return UpstreamUnavailable(summary)
    return UpstreamError(summary)


def _unavailable(host: str, url: URL, exc: BaseException) -> UpstreamUnavailable:
    # aiohttp's messages name the host and the failure (a refused connection, a certificate
    # not verified), never the request's headers; the URL's query stays out (signed URLs).
    reason = str(exc)[:200] or type(exc).__name__
    return UpstreamUnavailable(f"{host} did not answer GET {url.path}: {reason}")
