"""Handlers for the Tag History API (Chainguard-compatible) and the draft OCI tag history.

``_chainguard/history`` has one wire format for every record: a mirrored move reads as its
observation time (when tagtrail saw it), an imported one as the upstream's time.

``_oci/tag-history`` says more about the records mirrors wrote, in annotations outside the
``org.opencontainers.distribution`` prefix the draft reserves: ``dev.tagtrail.origin``
(``mirror``: seen on the upstream at the timestamp; ``import``: the upstream's own record, with
its time) and, for a mirrored move, ``dev.tagtrail.moved-after`` (the check before it saw the
tag elsewhere: the move happened between the two). Pushed records carry neither, byte for byte
as before.

Who moved the tag and how is for callers whose account may push to the repository
(``web.actors.may_push``) only: ``dev.tagtrail.action`` (``push``, ``delete``, ``restore``,
``mirror``, ``import``), ``dev.tagtrail.actor`` (a user's name, ``token:<id>``,
``mirror:<prefix>``, ``anonymous``; absent where unknown, as for records from before actors
were kept) and ``dev.tagtrail.previous`` (the digest the tag pointed to just before the record;
a deletion's own; absent when the tag did not exist before). Public readers and pull-only
callers get none of the three: an actor is a user name.

An imported record names a manifest tagtrail may never have fetched (the upstream's history
lists old digests; only the current one is fetched), so its media type and size are unknown,
stored as "" and 0. Its descriptor keeps ``mediaType`` and ``size`` with those values rather
than leaving them out or guessing: a draft client reads entries by key, so every entry has the
same keys; a guessed type or size would be a claim a client might verify a fetch against and
fail; "" and 0 name nothing, and ``dev.tagtrail.origin: import`` says why. A client wanting the
manifest fetches it by digest.
"""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tagtrail.api.http import next_link, page_size, repo_name
from tagtrail.auth.model import PULL
from tagtrail.errors import TimestampInvalid
from tagtrail.times import format_timestamp, parse_instant, parse_timestamp, to_millis
from tagtrail.types import OCI_INDEX, Digest, HistoryRecord, parse_tag
from tagtrail.web import state
from tagtrail.web.actors import may_push

OCI_TIMESTAMP = "org.opencontainers.distribution.tag.timestamp"
OCI_EVENT = "org.opencontainers.distribution.tag.event"
ORIGIN = "dev.tagtrail.origin"
MOVED_AFTER = "dev.tagtrail.moved-after"
ACTOR = "dev.tagtrail.actor"
ACTION = "dev.tagtrail.action"
PREVIOUS = "dev.tagtrail.previous"
# Actions of history records that say where the record came from (meta.mirror_state writes them).
_ORIGINS = frozenset({"mirror", "import"})


def _timestamp(request: Request, key: str, *, lower_bound: bool) -> int | None:
    raw = request.query_params.get(key)
    return parse_timestamp(raw, round_up=lower_bound) if raw else None


def _descriptor(record: HistoryRecord, who: bool) -> dict[str, object]:
    """One entry of the OCI index: the manifest's descriptor, with when and how it moved;
    ``who``: with who moved it, how, and from where."""
    annotations = {
        OCI_TIMESTAMP: format_timestamp(record.timestamp_ms),
        OCI_EVENT: record.event,
    }
    if record.action in _ORIGINS:
        annotations[ORIGIN] = record.action
        if record.previous_check_ms is not None:
            annotations[MOVED_AFTER] = format_timestamp(record.previous_check_ms)
    if who:
        if record.action is not None:
            annotations[ACTION] = record.action
        if record.actor is not None:
            annotations[ACTOR] = record.actor
        if record.previous is not None:
            annotations[PREVIOUS] = str(record.previous)
    return {
        "mediaType": record.media_type,
        "size": record.size,
        "digest": str(record.digest),
        "annotations": annotations,
    }


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
    guard = state.guard(request)
    await guard.require(request, name, PULL, tag=tag)
    who = await may_push(guard, await guard.caller(request), name)
    limit = page_size(request, None)
    # Strict bounds: "before" excludes its own instant, so it rounds like a lower bound.
    before = _timestamp(request, "before", lower_bound=True)
    since = _timestamp(request, "since", lower_bound=False)
    raw_digest = request.query_params.get("digest")
    digest = Digest.parse(raw_digest) if raw_digest else None
    page = await state.registry(request).history.events(
        name,
        tag,
        limit=limit,
        before_ms=before,
        since_ms=since,
        digest=digest,
        with_previous=who,
    )
    manifests = [_descriptor(r, who) for r in page.records]
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
