"""Reading an upstream's answers: JSON bodies and their ``Link`` pages (the tag list and tag
history readers), and how long a ``429`` asks to wait (the httpx requests and the blob stream)."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from tagtrail.upstream.errors import UpstreamInvalid, UpstreamRateLimited


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


def retry_after(raw: str) -> float | None:
    """``Retry-After`` in seconds (delta-seconds or an HTTP date), None when absent or bad."""
    raw = raw.strip()
    if not raw:
        return None
    if raw.isdigit():
        return float(raw)
    try:
        moment = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(moment.timestamp() - time.time(), 0.0)


def rate_limit_wait(header: str, waited: float, limit: float, what: str) -> float:
    """Seconds to wait before asking again after a ``429`` whose ``Retry-After`` is ``header``,
    ``waited`` seconds having been waited out already for this request; UpstreamRateLimited
    ("<what> (Retry-After n s)") when it names no wait or the wait would exceed ``limit``."""
    wait = retry_after(header)
    if wait is None or waited + wait > limit:
        after = "" if wait is None else f" (Retry-After {wait:.0f} s)"
        raise UpstreamRateLimited(f"{what}{after}", wait)
    return wait
