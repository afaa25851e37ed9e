"""``POST /v2/<name>/_tagtrail/tags/<tag>/restore``: point a tag back at a digest from its own
history (``registry.restore``), recorded with action ``restore`` and the caller as its actor.

The body is a JSON object with one of ``digest`` (a digest the tag pointed to) or ``at`` (an
RFC 3339 time: the digest the tag pointed to then). Push rights are required; a caller who may
not even pull gets what a missing repository gets. The answer is 200 with the tag's digest now,
the one before, and whether it moved.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tagtrail.api.http import read_limited, repo_name
from tagtrail.auth.model import PUSH
from tagtrail.errors import InvalidInput, ManifestTooLarge, TimestampInvalid, TooLarge
from tagtrail.times import format_timestamp, parse_instant, to_millis
from tagtrail.types import Digest, parse_tag
from tagtrail.web import state
from tagtrail.web.actors import actor_of

# A digest or a timestamp, and room to spare.
MAX_BODY_BYTES = 4096


async def _target(request: Request) -> dict[str, Any]:
    """The body: a JSON object naming exactly one of ``digest`` and ``at``, as strings."""
    try:
        raw = await read_limited(request, MAX_BODY_BYTES)
    except ManifestTooLarge as exc:
        raise TooLarge("restore request too large", detail=exc.detail) from exc
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise InvalidInput("the body must be a JSON object") from exc
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object")
    named = [key for key in ("digest", "at") if key in body]
    unknown = sorted(set(body) - {"digest", "at"})
    if len(named) != 1 or unknown:
        raise InvalidInput(
            'the body names one of "digest" and "at", nothing else',
            detail={"keys": sorted(str(key)[:100] for key in body)[:10]},
        )
    if not isinstance(body[named[0]], str):
        raise InvalidInput(f'"{named[0]}" must be a string', detail={"key": named[0]})
    return body


async def restore_tag(request: Request) -> Response:
    name = repo_name(request)
    guard = state.guard(request)
    # Authorisation first: a caller without push learns nothing of the tag or the body.
    await guard.require(request, name, PUSH)
    tag = parse_tag(request.path_params["tag"])
    body = await _target(request)
    actor = actor_of(await guard.caller(request))
    restore = state.registry(request).restore
    if "digest" in body:
        done = await restore.to_digest(name, tag, Digest.parse(body["digest"]), actor=actor)
    else:
        at_ms = to_millis(parse_instant(body["at"]))
        try:  # a time whose UTC falls outside years 1 to 9999 names no record's time
            format_timestamp(at_ms)
        except OverflowError as exc:
            raise TimestampInvalid(detail={"timestamp": body["at"][:100]}) from exc
        done = await restore.to_moment(name, tag, at_ms, actor=actor)
    previous = done.move.previous  # the digest itself when the tag pointed there already
    answer = {
        "name": name,
        "tag": tag,
        "digest": str(done.digest),
        "previous": None if previous is None else str(previous),
        "moved": done.move.moved,
    }
    return JSONResponse(answer, headers={"Docker-Content-Digest": str(done.digest)})
