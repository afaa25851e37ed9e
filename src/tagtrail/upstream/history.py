"""Reading an upstream's own tag history, for the first check of a mirrored tag.

Two APIs serve one: the Tag History API (``_chainguard/history/<tag>``: moves only, oldest
first) and the draft OCI extension (``_oci/tag-history/<tag>``: moves and deletions, newest
first, each entry a descriptor of the manifest with its timestamp and event as annotations).
The first is asked first (Chainguard's registry serves only it); the second when the first is
not served. Both are read to the end through their ``Link`` pages, and the answer is oldest
first either way.

A deletion from the OCI extension stays a deletion (``event`` ``deleted``, its digest the
manifest the tag pointed to before): read as a move it would say the tag pointed at that
manifest again. An entry with an event the draft does not define is left out rather than
guessed at; a malformed entry makes the whole history ``UpstreamInvalid``, as a half-read
history would be a wrong one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from tagtrail.upstream.errors import UpstreamInvalid
from tagtrail.upstream.responses import json_object, next_page

OCI_TIMESTAMP = "org.opencontainers.distribution.tag.timestamp"
OCI_EVENT = "org.opencontainers.distribution.tag.event"
# Entries asked for per page of the OCI extension (the upstream may send fewer, and a Link).
OCI_PAGE = 1000
# Answers of a registry that serves no tag history API.
NO_HISTORY = frozenset({404, 405, 501})

# GET a path (or a Link's absolute URL) with the repository's pull scope.
Get = Callable[[str], Awaitable[httpx.Response]]
# Raise for a non-2xx answer, by what the caller should do (``Upstream._expect``).
Expect = Callable[[httpx.Response, str], None]


@dataclass(frozen=True, slots=True)
class UpstreamMove:
    """One record of an upstream's tag history: when (as it wrote it), where the tag went
    (``created``) or what it pointed to when deleted (``deleted``); the manifest's media type
    and size where the upstream said (the OCI extension does; "" and 0 when unknown)."""

    timestamp: str
    digest: str
    event: Literal["created", "deleted"] = "created"
    media_type: str = ""
    size: int = 0


async def read_history(
    get: Get, expect: Expect, host: str, name: str, tag: str
) -> list[UpstreamMove] | None:
    """The upstream's history of ``name:tag``, oldest first; None when it serves neither API."""
    moves = await _chainguard(get, expect, host, name, tag)
    if moves is not None:
        return moves
    return await _oci(get, expect, host, name, tag)


async def _chainguard(
    get: Get, expect: Expect, host: str, name: str, tag: str
) -> list[UpstreamMove] | None:
    url: str | None = f"/v2/{name}/_chainguard/history/{tag}"
    moves: list[UpstreamMove] = []
    while url is not None:
        response = await get(url)
        if response.status_code in NO_HISTORY:
            return None
        expect(response, f"history of {tag}")
        records = json_object(response, host).get("history")
        if not isinstance(records, list):
            raise UpstreamInvalid(f"{host} sent a malformed history of {name}:{tag}")
        for record in records:
            try:
                moves.append(UpstreamMove(str(record["updateTimestamp"]), str(record["digest"])))
            except (KeyError, TypeError) as exc:
                raise UpstreamInvalid(
                    f"{host} sent a malformed history record of {name}:{tag}"
                ) from exc
        url = next_page(response)
    return moves


async def _oci(
    get: Get, expect: Expect, host: str, name: str, tag: str
) -> list[UpstreamMove] | None:
    url: str | None = f"/v2/{name}/_oci/tag-history/{tag}?n={OCI_PAGE}"
    newest_first: list[UpstreamMove] = []
    followed: set[str] = set()
    while url is not None:
        response = await get(url)
        if response.status_code in NO_HISTORY or _unsupported(response):
            if followed:  # it served the first page: a later one missing is no "not served"
                raise UpstreamInvalid(f"{host} stopped serving the history of {name}:{tag}")
            return None
        expect(response, f"history of {tag}")
        entries = json_object(response, host).get("manifests")
        if not isinstance(entries, list):
            raise UpstreamInvalid(f"{host} sent a malformed history of {name}:{tag}")
        for entry in entries:
            move = _oci_move(entry, host, name, tag)
            if move is not None:
                newest_first.append(move)
        url = next_page(response)
        if url is not None:
            if url in followed or not entries:
                raise UpstreamInvalid(f"{host} sent a history Link that does not advance: {url}")
            followed.add(url)
    return newest_first[::-1]


def _oci_move(entry: Any, host: str, name: str, tag: str) -> UpstreamMove | None:
    try:
        annotations = entry["annotations"]
        timestamp, event, digest = (
            annotations[OCI_TIMESTAMP],
            annotations[OCI_EVENT],
            entry["digest"],
        )
        media_type, size = entry.get("mediaType", ""), entry.get("size", 0)
        if not all(isinstance(value, str) for value in (timestamp, event, digest, media_type)):
            raise TypeError("not a string")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise TypeError("not a size")
    except (KeyError, TypeError, AttributeError) as exc:
        raise UpstreamInvalid(f"{host} sent a malformed history entry of {name}:{tag}") from exc
    if event == "created":
        return UpstreamMove(timestamp, digest, "created", media_type, size)
    if event == "deleted":
        return UpstreamMove(timestamp, digest, "deleted", media_type, size)
    return None


def _unsupported(response: httpx.Response) -> bool:
    """An OCI error body with code UNSUPPORTED (how some registries say "no such API")."""
    if response.status_code < 400:
        return False
    try:
        errors = response.json().get("errors")
        return any(error.get("code") == "UNSUPPORTED" for error in errors)
    except (ValueError, AttributeError, TypeError):
        return False
