"""Handlers for the Tag History API (Chainguard-compatible) and the draft OCI tag history."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tagtrail.api.http import next_link, page_size, repo_name
from tagtrail.auth.model import PULL
from tagtrail.errors import TimestampInvalid
from tagtrail.times import format_timestamp, parse_instant, parse_timestamp, to_millis
from tagtrail.types import OCI_INDEX, Digest, parse_tag
from tagtrail.web import state

OCI_TIMESTAMP = "org.opencontainers.distribution.tag.timestamp"
OCI_EVENT = "org.opencontainers.distribution.tag.event"


def _timestamp(request: Request, key: str, *, lower_bound: bool) -> int | None:
    raw = request.query_params.get(key)
    return parse_timestamp(raw, round_up=lower_bound) if raw else None


async def chainguard_history(request: Request) -> Response:
    name = repo_name(request)
    tag = parse_tag(request.path_params["tag"])
    await state.guard(request).require(request, name, PULL, tag=tag)
    raw_start, raw_end = request.query_params.get("start"), request.query_params.get("end")
    start_at = parse_instant(raw_start) if raw_start else None
    end_at = parse_instant(raw_end) if raw_end else None
    if start_at is not None and end_at is not None and start_at > end_at:
        raise TimestampInvalid("start is after end", detail={"start": raw_start, "end": raw_end})
    start = None if start_at is None else to_millis(start_at, round_up=True)
    end = None if end_at is None else to_millis(end_at)
    page = await state.registry(request).history.moves(name, tag, start, end)
    body = {
        "history": [
            {"updateTimestamp": format_timestamp(r.timestamp_ms), "digest": str(r.digest)}
            for r in page.records
        ]
    }
    headers = {}
    if page.next_cursor_ms is not None:
        params = {"start": format_timestamp(page.next_cursor_ms)}
        if end is not None:
            params["end"] = format_timestamp(end)
        headers["Link"] = next_link(f"/v2/{name}/_chainguard/history/{tag}", params)
    return JSONResponse(body, headers=headers)


async def oci_tag_history(request: Request) -> Response:
    name = repo_name(request)
    tag = parse_tag(request.path_params["tag"])
    await state.guard(request).require(request, name, PULL, tag=tag)
    limit = page_size(request, None)
    # Strict bounds: "before" excludes its own instant, so it rounds like a lower bound.
    before = _timestamp(request, "before", lower_bound=True)
    since = _timestamp(request, "since", lower_bound=False)
    raw_digest = request.query_params.get("digest")
    digest = Digest.parse(raw_digest) if raw_digest else None
    page = await state.registry(request).history.events(
        name, tag, limit=limit, before_ms=before, since_ms=since, digest=digest
    )
    manifests = [
        {
            "mediaType": r.media_type,
            "size": r.size,
            "digest": str(r.digest),
            "annotations": {OCI_TIMESTAMP: format_timestamp(r.timestamp_ms), OCI_EVENT: r.event},
        }
        for r in page.records
    ]
    headers = {"Content-Type": OCI_INDEX}
    if page.next_cursor_ms is not None:
        params = {"before": format_timestamp(page.next_cursor_ms)}
        if limit is not None:
            params["n"] = str(limit)
        if since is not None:
            params["since"] = format_timestamp(since)
        if digest is not None:
            params["digest"] = str(digest)
        headers["Link"] = next_link(f"/v2/{name}/_oci/tag-history/{tag}", params)
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}
    return Response(json.dumps(index).encode(), headers=headers)
