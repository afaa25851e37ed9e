"""tagtrail's restore endpoint from the client's side
(``POST /v2/<name>/_tagtrail/tags/<tag>/restore``): the move checked against the tag's own
history and recorded as ``restore`` by the registry, in one request.

Other registries have no such endpoint: they answer 404 without an OCI error body (no route),
or 405 (a route that takes other methods); only those answers make the caller fall back to a
GET and a PUT. A 404 with an OCI error body is tagtrail's refusal (a digest the tag never had,
a time it pointed nowhere), said as it is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from tagtrail.client.errors import (
    NotAtTime,
    NotFoundError,
    UnexpectedResponse,
    error_codes,
    error_summary,
)
from tagtrail.client.session import RegistrySession, push_scope
from tagtrail.times import format_moment


@dataclass(frozen=True, slots=True)
class Restored:
    """Where the tag points now, where it pointed before (None: nowhere), whether it moved."""

    digest: str
    previous: str | None
    moved: bool


def restore_path(repository: str, tag: str) -> str:
    return f"/v2/{repository}/_tagtrail/tags/{tag}/restore"


def _served(response: httpx.Response) -> bool:
    """False when the answer says the registry has no restore endpoint."""
    if response.status_code == 405:
        return False
    return response.status_code != 404 or bool(error_codes(response))


def restore_tag(
    session: RegistrySession,
    repository: str,
    tag: str,
    *,
    digest: str | None = None,
    at: datetime | None = None,
) -> Restored | None:
    """Point ``tag`` back at ``digest`` (or at its digest at ``at``) through the endpoint;
    None when the registry has none."""
    if digest is not None:
        body = {"digest": digest}
    else:
        assert at is not None, "a digest or a moment"
        body = {"at": format_moment(at)}
    path = restore_path(repository, tag)
    response = session.request(
        "POST",
        path,
        scope=push_scope(repository),
        headers={"Content-Type": "application/json"},
        content=json.dumps(body).encode(),
    )
    if not _served(response):
        return None
    summary = error_summary(response)
    if response.status_code == 404:
        refused = NotAtTime if at is not None and "MANIFEST_UNKNOWN" in summary else NotFoundError
        raise refused(f"{session.host} refused to restore {repository}:{tag}: {summary}")
    if response.status_code != 200:
        raise UnexpectedResponse(f"{session.host} answered {summary} to POST {path}")
    try:
        answer: Any = response.json()
        previous = answer["previous"]
        return Restored(
            str(answer["digest"]),
            None if previous is None else str(previous),
            bool(answer["moved"]),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise UnexpectedResponse(f"{session.host} answered POST {path} with no JSON") from exc
