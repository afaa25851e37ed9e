"""Authenticating to a registry as an ``httpx.Auth``: the Docker token (bearer-challenge) flow.

A request goes out with the token cached for its scope, if any. On ``401`` with
``WWW-Authenticate: Bearer realm=...,service=...,scope=...`` the flow asks the realm for a
token (anonymously, with Basic credentials, or with an identity token as an OAuth2 refresh
token), caches it under the scope and retries once. A ``Basic`` challenge is answered with the
Basic credentials, which then go with every later request. What is still 401 or 403 after
that is the session's to report (it knows what the request was for).

``Keychain`` is what one session knows (credentials, looked up when first needed; tokens by
scope; whether the registry wants Basic); ``ScopedAuth`` is the flow for one request's scope.
The token request is yielded like any other, so it goes through the session's client (its
TLS settings, timeout, User-Agent and redirects) and ``token_flow`` can be driven on its own
for ``tagtrail auth token`` and ``login``.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from typing import Any

import httpx

from tagtrail.challenges import Challenge, basic_header, parse_challenge
from tagtrail.client.dockerconfig import Credentials
from tagtrail.client.errors import AuthError, UnexpectedResponse, error_summary

CLIENT_ID = "tagtrail"

CredentialSource = Callable[[], Credentials | None]
RequestBuilder = Callable[..., httpx.Request]
# Yields the requests to send, is sent their responses, returns what it found out.
Flow = Generator[httpx.Request, httpx.Response, None]
TokenFlow = Generator[httpx.Request, httpx.Response, str]


def challenge_of(response: httpx.Response) -> Challenge | None:
    return parse_challenge(response.headers.get("www-authenticate", ""))


class Keychain:
    """One registry's credentials and tokens. ``build`` makes a request the way the session's
    client does (``httpx.Client.build_request``)."""

    def __init__(
        self, source: CredentialSource, *, host: str, auth_key: str, build: RequestBuilder
    ) -> None:
        self.host = host
        self.auth_key = auth_key
        self._source = source
        self._credentials: Credentials | None = None
        self._loaded = False
        self._build = build
        self.tokens: dict[str, str] = {}
        self.basic = False

    def credentials(self) -> Credentials | None:
        """The registry's credentials, looked up (helpers run) only when first needed."""
        if not self._loaded:
            self._credentials = self._source()
            self._loaded = True
        return self._credentials

    def who(self) -> str:
        found = self.credentials()
        if found is None:
            key = self.auth_key
            return f"anonymous: no credentials for {key}; see tagtrail login {key}"
        return f"as {found.who}"

    def authorize(self, request: httpx.Request, scope: str) -> None:
        """Basic credentials where the registry asked for them, else the scope's token."""
        found = self.credentials() if self.basic else None
        if found is not None:
            request.headers["Authorization"] = basic_header(found.username, found.password)
        elif scope in self.tokens:
            request.headers["Authorization"] = f"Bearer {self.tokens[scope]}"

    def answer(self, challenge: Challenge, scope: str) -> Flow:
        """Make the next request for ``scope`` meet ``challenge`` (a token fetched and cached
        for a Bearer challenge; Basic credentials from now on for a Basic one)."""
        if challenge.scheme == "basic":
            found = self.credentials()
            if found is None or not found.username:
                raise AuthError(
                    f"{self.host} asks for a user name and password and there are none "
                    f"for {self.auth_key} (tagtrail login {self.auth_key})"
                )
            self.basic = True
            return
        if challenge.scheme != "bearer":
            raise AuthError(f"{self.host} asks for unsupported authentication {challenge.scheme!r}")
        scopes = challenge.scopes or [scope]
        if scope not in scopes:
            scopes.append(scope)
        self.tokens[scope] = yield from self.token_flow(challenge, scopes)

    def token_flow(self, challenge: Challenge, scopes: Sequence[str]) -> TokenFlow:
        """A token (returned) from the Bearer challenge's realm for ``scopes``."""
        realm = challenge.params.get("realm")
        if not realm:
            raise AuthError(f"{self.host} sent a Bearer challenge without a realm")
        service = challenge.params.get("service")
        found = self.credentials()
        if found is not None and found.registry_token:
            return found.registry_token
        if found is not None and found.identity_token:
            form = {
                "grant_type": "refresh_token",
                "refresh_token": found.identity_token,
                "client_id": CLIENT_ID,
                "scope": " ".join(scopes),
                **({"service": service} if service else {}),
            }
            response = yield self._build("POST", realm, data=form)
        else:
            query: list[tuple[str, str | int | float | bool | None]] = (
                [("service", service)] if service else []
            )
            query += [("scope", scope) for scope in scopes]
            request = self._build("GET", realm, params=query)
            if found is not None:
                request.headers["Authorization"] = basic_header(found.username, found.password)
            response = yield request
        return _token(response, realm, found)


def _token(response: httpx.Response, realm: str, found: Credentials | None) -> str:
    if response.status_code in (401, 403):
        who = "an anonymous token" if found is None else f"the credentials of {found.who}"
        raise AuthError(f"the token service {realm} refused {who}: {error_summary(response)}")
    if response.status_code != 200:
        raise UnexpectedResponse(f"the token service {realm} answered {error_summary(response)}")
    try:
        body: Any = response.json()
        token = body.get("token") or body.get("access_token")
    except (ValueError, AttributeError) as exc:
        raise UnexpectedResponse(f"the token service {realm} answered no JSON") from exc
    if not isinstance(token, str) or not token:
        raise UnexpectedResponse(f"the token service {realm} answered no token")
    return token


class ScopedAuth(httpx.Auth):
    """The flow for a request that needs ``scope`` (``repository:<name>:pull``): sent with
    what ``keys`` hold for it, and on a 401 sent once more after answering the challenge."""

    requires_response_body = True  # the token service's JSON

    def __init__(self, keys: Keychain, scope: str) -> None:
        self.keys = keys
        self.scope = scope

    def auth_flow(self, request: httpx.Request) -> Flow:
        self.keys.authorize(request, self.scope)
        response = yield request
        if response.status_code != 401:
            return
        challenge = challenge_of(response)
        if challenge is None:
            raise AuthError(
                f"{self.keys.host} answered 401 to {request.method} {request.url.path} "
                "without saying how to authenticate"
            )
        yield from self.keys.answer(challenge, self.scope)
        self.keys.authorize(request, self.scope)
        yield request
