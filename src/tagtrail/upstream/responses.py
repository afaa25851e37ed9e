"""Reading an upstream's JSON answers and their ``Link`` pages, shared by the tag list and the
tag history readers."""

from __future__ import annotations

from typing import Any

import httpx

from tagtrail.upstream.errors import UpstreamInvalid


def json_object(response: httpx.Response, host: str) -> dict[str, Any]:
    """The body as a JSON object; ``UpstreamInvalid`` when it is none."""
    try:
        body = response.json()
    except ValueError as exc:
        raise UpstreamInvalid(f"{host} answered {response.url.path} with no JSON") from exc
    if not isinstance(body, dict):
        raise UpstreamInvalid(f"{host} answered {response.url.path} with no JSON object")
    return body


def next_page(response: httpx.Response) -> str | None:
    """The ``Link`` header's ``rel="next"`` target, resolved against the request's URL."""
    for link in response.links.values():
        if "next" in link.get("rel", "").lower().split():
            return str(response.url.join(link["url"]))
    return None
