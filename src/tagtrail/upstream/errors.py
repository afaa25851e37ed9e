"""What can go wrong asking an upstream, by what the caller does about it.

``UpstreamUnavailable`` (down, 5xx, connection dropped, rate limit beyond the wait allowed):
serve what is held and try again later. ``UpstreamUnauthorized``: the credentials (or the
anonymous token) were refused, a status to show, not a thing to retry soon. ``UpstreamInvalid``:
the upstream sent bytes that are not what it claims (digest or size mismatch); never store
them. ``UpstreamNotFound``: the repository, manifest or blob is not there.

Messages name the upstream and what was asked, never credentials or tokens.
"""

from __future__ import annotations


class UpstreamError(Exception):
    """Anything an upstream did wrong."""


class UpstreamUnavailable(UpstreamError):
    """The upstream could not answer now: connection failed or dropped, timeout, 5xx."""


class UpstreamRateLimited(UpstreamUnavailable):
    """429 for longer than the client waits; ``retry_after`` is the upstream's wish in seconds
    (None when it named none)."""

    def __init__(self, message: str, retry_after: float | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class UpstreamUnauthorized(UpstreamError):
    """401 or 403 after authenticating: the credentials (or anonymous access) were refused."""


class UpstreamInvalid(UpstreamError):
    """The upstream's answer contradicts itself: bytes not matching their digest or size, or
    a body that is not what the API defines."""


class UpstreamNotFound(UpstreamError):
    """404: the repository, manifest or blob does not exist upstream."""
