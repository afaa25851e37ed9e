"""Authenticating to an upstream as an ``httpx.Auth``: the Docker token flow.

The same flow as ``tagtrail.client.auth`` (the CLI's side; both parse challenges with
``tagtrail.challenges``), kept separate because the layers forbid this package to import the
client and the two differ where it matters (below): a request goes out with the token cached for its
scope; a ``401`` with ``WWW-Authenticate: Bearer realm=...,service=...,scope=...`` fetches a
token from the realm (with Basic credentials when the mirror has some, anonymously otherwise),
caches it for its scope until it expires, and sends the request once more. A ``Basic``
challenge is answered with the credentials, which then go with every request. Unlike the CLI's
flow, tokens expire here: a mirror runs for months, and a token outliving its ``expires_in``
would turn every request into a 401 and a second round trip.

What is still 401 or 403 afterwards is the caller's to report (``UpstreamUnauthorized``).
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Callable, Generator
from dataclasses import dataclass, field
from typing import Any

import httpx
from pydantic import SecretStr

from tagtrail.challenges import basic_header, parse_challenge
from tagtrail.upstream.errors import UpstreamUnauthorized, UpstreamUnavailable

# Docker's token spec: a token without expires_in lasts 60 s.
DEFAULT_TOKEN_SECONDS = 60.0
# Renew this long before the expiry, so a request does not leave with a token about to lapse.
EXPIRY_MARGIN_SECONDS = 5.0

Flow = Generator[httpx.Request, httpx.Response, None]
TokenFlow = Generator[httpx.Request, httpx.Response, tuple[str, float]]


@dataclass
class Keychain:
    """One upstream's credentials and the tokens fetched with them, by scope."""

    host: str
    username: str | None = None
    password: SecretStr | None = field(default=None, repr=False)
    clock: Callable[[], float] = time.monotonic
    basic: bool = False
    tokens: dict[str, tuple[str, float]] = field(default_factory=dict, repr=False)

    @staticmethod
    def _basic(username: str, password: SecretStr) -> str:
        return basic_header(username, password.get_secret_value())

    def authorize(self, request: httpx.Request, scope: str) -> None:
        """Basic credentials where the upstream asked for them, else the scope's live token."""
        header = self.header(scope)
        if header is not None:
            request.headers["Authorization"] = header

    def header(self, scope: str) -> str | None:
        """The Authorization value for ``scope`` as known now (None: none yet); for requests
        sent outside httpx (the blob stream, ``upstream.blob_stream``)."""
        if self.basic and self.username is not None and self.password is not None:
            return basic_header(self.username, self.password.get_secret_value())
        cached = self.tokens.get(scope)
        if cached is not None and cached[1] > self.clock():
            return f"Bearer {cached[0]}"
        return None

    def answer(self, scheme: str, params: dict[str, str], scope: str) -> Flow:
        if scheme == "basic":
            if self.username is None or self.password is None:
                raise UpstreamUnauthorized(f"{self.host} asks for credentials and has none")
            self.basic = True
            return
        if scheme != "bearer":
            raise UpstreamUnauthorized(
                f"{self.host} asks for unsupported authentication {scheme!r}"
            )
        token, lifetime = yield from self._token(params, scope)
        self.tokens[scope] = (token, self.clock() + max(lifetime - EXPIRY_MARGIN_SECONDS, 0.0))

    def _token(self, params: dict[str, str], scope: str) -> TokenFlow:
        realm = params.get("realm")
        if not realm:
            raise UpstreamUnauthorized(f"{self.host} sent a Bearer challenge without a realm")
        query: list[tuple[str, str | int | float | bool | None]] = (
            [("service", params["service"])] if params.get("service") else []
        )
        # The challenge names the scope the upstream wants; ours may differ (a ping has none).
        scopes = params.get("scope", "").split()
        query += [("scope", s) for s in dict.fromkeys([*scopes, scope]) if s]
        request = httpx.Request("GET", realm, params=query)
        if self.username is not None and self.password is not None:
            request.headers["Authorization"] = basic_header(
                self.username, self.password.get_secret_value()
            )
        response = yield request
        who = "anonymous access" if self.username is None else f"the credentials of {self.username}"
        if response.status_code in (401, 403):
            raise UpstreamUnauthorized(
                f"the token service of {self.host} refused {who} ({response.status_code})"
            )
        if response.status_code != 200:
            raise UpstreamUnavailable(
                f"the token service of {self.host} answered {response.status_code}"
            )
        return _read_token(response, self.host)


def _read_token(response: httpx.Response, host: str) -> tuple[str, float]:
    try:
        body: Any = response.json()
        token = body.get("token") or body.get("access_token")
        lifetime = float(body.get("expires_in") or DEFAULT_TOKEN_SECONDS)
    except (ValueError, AttributeError, TypeError) as exc:
        raise UpstreamUnavailable(f"the token service of {host} answered no token") from exc
    if not isinstance(token, str) or not token:
        raise UpstreamUnavailable(f"the token service of {host} answered no token")
    return token, lifetime


class ScopedAuth(httpx.Auth):
    """The flow for one request needing ``scope`` (``repository:<name>:pull``)."""

    def __init__(self, keys: Keychain, scope: str) -> None:
        self.keys = keys
        self.scope = scope

    def auth_flow(self, request: httpx.Request) -> Flow:
        self.keys.authorize(request, self.scope)
        response = yield request
        if response.status_code != 401:
            return
        challenge = parse_challenge(response.headers.get("www-authenticate", ""))
        if challenge is None:
            return  # the caller reports the 401
        yield from self.keys.answer(challenge.scheme, challenge.params, self.scope)
        self.keys.authorize(request, self.scope)
        yield request

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """``auth_flow``, reading only the token service's answers: httpx's
        ``requires_response_body`` would read every answer, a blob of gigabytes included,
        before the caller could stream it."""
        flow = self.auth_flow(request)
        outgoing = next(flow)
        while True:
            response = yield outgoing
            if outgoing is not request:
                await response.aread()
            try:
                outgoing = flow.send(response)
            except StopIteration:
                return
