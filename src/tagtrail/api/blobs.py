"""Handlers for /v2/<name>/blobs/...: reads, deletes and uploads."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from tagtrail.api.http import (
    RawResponse,
    body,
    byte_range,
    content_range,
    repo_name,
    url_for,
)
from tagtrail.api.pull_names import pull_target
from tagtrail.auth.model import DELETE, PULL, PUSH
from tagtrail.auth.scopes import Scope as AuthScope
from tagtrail.errors import Denied, DigestInvalid, Unauthorized
from tagtrail.registry.blobs import BlobDelivery, SendBytes, SendFile, SendRedirect
from tagtrail.registry.mirror_fetches import FetchFailed
from tagtrail.registry.mirror_pull import MirrorPull, SendFetched, UpstreamUnreachable
from tagtrail.registry.mirror_upstreams import Mirrored
from tagtrail.registry.uploads import Completed
from tagtrail.types import Digest, RepoName, UploadSession, parse_name
from tagtrail.web import state


class _BlobFile(FileResponse):
    """FileResponse (sent by the server itself via pathsend) that sees a Range header only
    when ``byte_range`` accepted it: RFC 9110 says to ignore the ones we do not serve."""

    def __init__(self, *args: Any, honour_range: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._honour_range = honour_range

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._honour_range:
            headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"range"]
            scope = {**scope, "headers": headers}
        await super().__call__(scope, receive, send)


class _WholeBlobFile(Response):
    """A whole blob file: headers built here, bytes sent by the server itself (ASGI pathsend,
    zero-copy in granian). Starlette's FileResponse formats a date and hashes an ETag for
    every response, a third of a small blob GET when profiled; this one does neither."""

    def __init__(self, source: SendFile, headers: dict[str, str]) -> None:
        super().__init__(None, 200, headers, "application/octet-stream")
        self._source = source
        self._extra_headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if "http.response.pathsend" not in scope.get("extensions", {}):
            fallback = _BlobFile(
                self._source.path,
                stat_result=self._source.stat,
                media_type="application/octet-stream",
                headers=self._extra_headers,
                honour_range=False,
            )
            await fallback(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        await send({"type": "http.response.pathsend", "path": str(self._source.path)})


async def get_blob(request: Request) -> Response:
    name, mirrored = await pull_target(request)
    digest = Digest.parse(request.path_params["digest"])
    await state.guard(request).require(request, name, PULL, digest=digest)
    registry = state.registry(request)
    if mirrored is not None:
        assert registry.mirroring is not None
        return await _pull_through(request, registry.mirroring.pull, mirrored, digest)
    if request.method == "HEAD":  # the size alone: no driver call, no presigned URL
        size = await registry.blobs.size(name, digest)
        headers = [(b"content-length", b"%d" % size), *_described(digest)]
        return RawResponse(200, headers, reusable=True)
    size, source = await registry.blobs.open(name, digest)
    response = _deliver(request, digest, size, source)
    if isinstance(response, RawResponse) and response.status_code == 200:
        response.reusable = True  # a small blob from memory (api/pull_answers.py)
    return response


async def _pull_through(
    request: Request, pull: MirrorPull, mirrored: Mirrored, digest: Digest
) -> Response:
    """A blob under a mirror's prefix: held, else the upstream's (registry.mirror_pull)."""
    if request.method == "HEAD":
        size = await pull.blob_size(mirrored, digest)
        return RawResponse(200, [(b"content-length", b"%d" % size), *_described(digest)])
    opened = await pull.open_blob(mirrored, digest)
    if isinstance(opened, SendFetched):
        return await _fetched(opened, mirrored, digest)
    return _deliver(request, digest, *opened)


async def _fetched(source: SendFetched, mirrored: Mirrored, digest: Digest) -> Response:
    """The response once the first piece came: a fetch that fails before it (a blob within
    one piece held back and then failing verification, an upstream dropping at once) gets
    the OCI error, where a response already started could only be cut short (or be a 500)."""
    chunks = aiter(source.chunks)
    try:
        first = await anext(chunks, None)
    except FetchFailed as exc:
        source.close()
        why = str(exc.__cause__ or exc) or type(exc.__cause__).__name__
        raise UpstreamUnreachable(
            f"the upstream of {mirrored.mirror.prefix} failed: {why}"[:500],
            detail={"mirror": mirrored.mirror.prefix, "name": mirrored.local},
        ) from exc
    except BaseException:
        source.close()
        raise
    return _Fetched(source, digest, _prepend(first, chunks))


async def _prepend(first: bytes | None, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    if first is None:
        return
    yield first
    async for chunk in rest:
        yield chunk


class _Fetched(StreamingResponse):
    """The upstream's bytes as they arrive (any Range ignored, as RFC 9110 allows), in the
    fetch's pieces of a MiB (``upstream.blob_stream``), one ASGI message each. A fetch that
    fails midway raises in the stream: the server aborts the connection, so the client never
    takes a short or unverified blob for a whole one."""

    def __init__(self, source: SendFetched, digest: Digest, chunks: AsyncIterator[bytes]) -> None:
        headers = {"Docker-Content-Digest": str(digest)}
        if source.size is not None:
            headers["Content-Length"] = str(source.size)
        super().__init__(chunks, media_type="application/octet-stream", headers=headers)
        self._source = source

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._source.close()  # the fetch goes on for the storage, without this client


def _deliver(request: Request, digest: Digest, size: int, source: BlobDelivery) -> Response:
    """A GET's answer (HEADs are answered from the size before a delivery is asked for)."""
    if isinstance(source, SendBytes):
        return _from_memory(request, digest, source.content)
    headers = {"Docker-Content-Digest": str(digest), "Accept-Ranges": "bytes"}
    if isinstance(source, SendRedirect):
        return RedirectResponse(source.url, status_code=307, headers=headers)
    requested = byte_range(request, size)  # validates before anything is sent
    if isinstance(source, SendFile):
        headers["ETag"] = f'"{digest}"'
        if requested is None:
            headers["Content-Length"] = str(source.size)
            return _WholeBlobFile(source, headers)
        return _BlobFile(
            source.path,
            stat_result=source.stat,
            media_type="application/octet-stream",
            headers=headers,
            honour_range=True,
        )
    first, last = requested if requested is not None else (0, size - 1)
    headers["Content-Length"] = str(last - first + 1)
    status = 200
    if requested is not None:
        headers["Content-Range"] = f"bytes {first}-{last}/{size}"
        status = 206
    chunks = source.open(first, last) if size else _nothing()
    return StreamingResponse(
        chunks, status_code=status, media_type="application/octet-stream", headers=headers
    )


def _described(digest: Digest) -> list[tuple[bytes, bytes]]:
    return [
        (b"content-type", b"application/octet-stream"),
        (b"docker-content-digest", str(digest).encode()),
        (b"accept-ranges", b"bytes"),
    ]


def _from_memory(request: Request, digest: Digest, content: bytes) -> Response:
    headers = [*_described(digest), (b"etag", f'"{digest}"'.encode())]
    requested = byte_range(request, len(content))  # validates before anything is sent
    if requested is None:
        return RawResponse(200, [(b"content-length", b"%d" % len(content)), *headers], content)
    first, last = requested
    headers.append((b"content-range", b"bytes %d-%d/%d" % (first, last, len(content))))
    part = content[first : last + 1]
    return RawResponse(206, [(b"content-length", b"%d" % len(part)), *headers], part)


async def _nothing() -> AsyncIterator[bytes]:
    return
    yield b""


async def delete_blob(request: Request) -> Response:
    name = repo_name(request)
    digest = Digest.parse(request.path_params["digest"])
    await state.guard(request).require(request, name, DELETE)
    await state.registry(request).blobs.delete(name, digest)
    return Response(status_code=202, headers={"Docker-Content-Digest": str(digest)})


def _blob_created(request: Request, name: RepoName, done: Completed) -> Response:
    return Response(
        status_code=201,
        headers={
            "Location": url_for(request, f"/v2/{name}/blobs/{done.digest}"),
            "Docker-Content-Digest": str(done.digest),
            "Content-Length": "0",
        },
    )


def _upload_state(request: Request, session: UploadSession, status: int) -> Response:
    end = max(session.offset - 1, 0)
    return Response(
        status_code=status,
        headers={
            "Location": url_for(request, f"/v2/{session.repository}/blobs/uploads/{session.id}"),
            "Range": f"0-{end}",
            "Docker-Upload-UUID": session.id,
            "Content-Length": "0",
        },
    )


async def start_upload(request: Request) -> Response:
    name = repo_name(request)
    registry = state.registry(request)
    params = request.query_params
    mount, source = params.get("mount"), params.get("from")
    also = (AuthScope("repository", source, frozenset({PULL})),) if mount and source else ()
    await state.guard(request).require(request, name, PUSH, also=also)
    if mount:
        digest = Digest.parse(mount)
        if source and await _may_read(request, parse_name(source), digest):
            mounted = await registry.uploads.mount(name, digest, parse_name(source))
            if mounted is not None:
                return _blob_created(request, name, mounted)
        # Not mountable: fall back to a regular upload session, as the spec requires.
    elif params.get("digest"):
        digest = Digest.parse(params["digest"])
        done = await registry.uploads.monolithic(name, digest, body(request))
        return _blob_created(request, name, done)
    session = await registry.uploads.start(name)
    return _upload_state(request, session, 202)


async def _may_read(request: Request, name: RepoName, digest: Digest) -> bool:
    """A mount reads the source: without pull there, it becomes an ordinary upload."""
    try:
        await state.guard(request).require(request, name, PULL, digest=digest)
    except (Unauthorized, Denied):
        return False
    return True


async def upload_status(request: Request) -> Response:
    name = repo_name(request)
    await state.guard(request).require(request, name, PUSH)
    session = await state.registry(request).uploads.status(name, request.path_params["upload_id"])
    return _upload_state(request, session, 204)


async def patch_upload(request: Request) -> Response:
    name = repo_name(request)
    await state.guard(request).require(request, name, PUSH)
    session = await state.registry(request).uploads.append(
        name, request.path_params["upload_id"], body(request), content_range(request)
    )
    return _upload_state(request, session, 202)


async def put_upload(request: Request) -> Response:
    name = repo_name(request)
    await state.guard(request).require(request, name, PUSH)
    raw_digest = request.query_params.get("digest")
    if not raw_digest:
        raise DigestInvalid("the digest query parameter is required to complete an upload")
    digest = Digest.parse(raw_digest)
    done = await state.registry(request).uploads.finish(
        name, request.path_params["upload_id"], digest, body(request), content_range(request)
    )
    return _blob_created(request, name, done)


async def cancel_upload(request: Request) -> Response:
    name = repo_name(request)
    await state.guard(request).require(request, name, PUSH)
    await state.registry(request).uploads.cancel(name, request.path_params["upload_id"])
    return Response(status_code=204)
