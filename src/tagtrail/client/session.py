"""An HTTP session to one registry.

Requests authenticate through ``auth.ScopedAuth`` (the Docker token flow, an ``httpx.Auth``);
a 401 that remains after it is an AuthError naming the refused scope, a 403 one naming who
asked. Transport failures become RegistryUnreachable, so no command ever shows a traceback
for them; a TLS/HTTP mismatch is said in words, and a loopback registry that speaks only plain
HTTP is fallen back to on the first request (``schemes``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Generator, Mapping
from types import TracebackType
from typing import TypeVar

import httpx

from tagtrail import __version__
from tagtrail.client.auth import CredentialSource, Keychain, ScopedAuth, challenge_of
from tagtrail.client.errors import (
    AuthError,
    RegistryUnreachable,
    UnexpectedResponse,
    UsageError,
    error_summary,
)
from tagtrail.client.reference import Endpoint
from tagtrail.client.schemes import explain, handshake_refused, reason

USER_AGENT = f"tagtrail/{__version__}"

QueryParams = Mapping[str, str] | None
Found = TypeVar("Found")


def pull_scope(repository: str) -> str:
    return f"repository:{repository}:pull"


def push_scope(repository: str) -> str:
    return f"repository:{repository}:pull,push"


def _request_of(exc: httpx.TransportError) -> httpx.Request | None:
    try:
        return exc.request
    except RuntimeError:  # raised outside a request (never by httpx's own clients)
        return None


def _address(request: httpx.Request) -> str:
    return str(request.url.copy_with(query=None))


class RegistrySession:
    """Requests to one registry; use as a context manager or call ``close``."""

    def __init__(
        self,
        endpoint: Endpoint,
        credentials: CredentialSource,
        *,
        verify: bool = True,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.endpoint = endpoint
        self._timeout = timeout
        # HTTPS until the registry answers it; plain HTTP if its handshake shows that is all.
        self._negotiating = endpoint.fallback
        self._http = httpx.Client(
            base_url=endpoint.base_url,
            verify=verify,
            timeout=timeout,
            headers={"User-Agent": USER_AGENT},
            transport=transport,
            follow_redirects=True,
        )
        self.keys = Keychain(
            credentials,
            host=endpoint.host,
            auth_key=endpoint.auth_key,
            build=self._http.build_request,
        )

    def __enter__(self) -> RegistrySession:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    @property
    def host(self) -> str:
        return self.endpoint.host

    # -- requests ---------------------------------------------------------------------------

    def request(
        self,
        method: str,
        target: str,
        *,
        scope: str,
        params: QueryParams = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
    ) -> httpx.Response:
        """Send, answering one authentication challenge. ``scope`` is what the request needs
        (``repository:<name>:pull``), asked for along with the scopes the challenge names;
        its token is cached under it. Returns any answer but 401 and 403 (AuthError)."""

        def build() -> httpx.Request:
            return self._http.build_request(
                method, target, params=params, headers=headers, content=content
            )

        response = self._call(build, ScopedAuth(self.keys, scope))
        if response.status_code == 401:
            challenge = challenge_of(response)
            refused = " ".join(challenge.scopes) if challenge and challenge.scopes else scope
            raise AuthError(
                f"{self.host} answered 401 Unauthorized: scope {refused} refused "
                f"({self.keys.who()})"
            )
        if response.status_code == 403:
            raise AuthError(
                f"{self.host} answered {error_summary(response)} to {method} "
                f"{response.url.path} ({self.keys.who()})"
            )
        return response

    def _call(
        self, build: Callable[[], httpx.Request], auth: httpx.Auth | None = None
    ) -> httpx.Response:
        """The request ``build`` makes, sent to the registry through ``auth``, its transport
        failures made ClientErrors."""
        request = build()
        try:
            response = self._http.send(request, auth=auth)
        except httpx.TransportError as exc:
            failed = _request_of(exc)
            if failed is not None and failed is not request:  # the token service's
                raise self._failure(exc, _address(failed)) from exc
            if self._negotiating and handshake_refused(exc):
                return self._fall_back(build, auth, exc)
            raise self._failure(exc, self.endpoint.base_url) from exc
        self._negotiating = False
        return response

    def _elsewhere(self, request: httpx.Request) -> httpx.Response:
        """``request`` sent to another server (a token service)."""
        try:
            return self._http.send(request)
        except httpx.TransportError as exc:
            raise self._failure(exc, _address(request)) from exc

    def _failure(self, exc: httpx.TransportError, where: str) -> Exception:
        if isinstance(exc, httpx.TimeoutException):
            return RegistryUnreachable(f"{where} did not answer within {self._timeout:g}s")
        if isinstance(exc, (httpx.InvalidURL, httpx.UnsupportedProtocol)):
            return UsageError(f"cannot request {where}: {exc}")
        return RegistryUnreachable(f"cannot reach {where}: {explain(exc, where)}")

    def _fall_back(
        self, build: Callable[[], httpx.Request], auth: httpx.Auth | None, first: Exception
    ) -> httpx.Response:
        """Send again over plain HTTP: the HTTPS handshake failed the way a plain-HTTP server
        makes it fail. Nothing reached the registry, so any request may be repeated."""
        self._negotiating = False
        self.endpoint = dataclasses.replace(self.endpoint, scheme="http", fallback=False)
        self._http.base_url = httpx.URL(self.endpoint.base_url)
        request = build()
        try:
            return self._http.send(request, auth=auth)
        except httpx.TransportError as exc:
            failed = _request_of(exc)
            if failed is not None and failed is not request:
                raise self._failure(exc, _address(failed)) from exc
            if isinstance(exc, httpx.TimeoutException):
                raise self._failure(exc, self.endpoint.base_url) from exc
            raise RegistryUnreachable(
                f"cannot reach {self.host} over HTTPS ({reason(first)}) "
                f"or plain HTTP ({reason(exc)})"
            ) from exc

    def _drive(self, flow: Generator[httpx.Request, httpx.Response, Found]) -> Found:
        """What ``flow`` finds out, its requests sent as it yields them."""
        try:
            request = next(flow)
            while True:
                request = flow.send(self._elsewhere(request))
        except StopIteration as done:
            found: Found = done.value
            return found

    # -- authentication without a request ---------------------------------------------------

    def _ping(self) -> httpx.Response:
        return self._call(lambda: self._http.build_request("GET", "/v2/"))

    def token_for(self, scope: str) -> str | None:
        """A bearer token for ``scope`` as ``crane auth token`` gets one: ping ``/v2/`` for the
        challenge, then ask its realm. None when the registry asks for no authentication."""
        response = self._ping()
        if response.status_code == 200:
            return None
        challenge = challenge_of(response)
        if response.status_code != 401 or challenge is None:
            raise UnexpectedResponse(f"{self.host} answered {error_summary(response)} to GET /v2/")
        if challenge.scheme != "bearer":
            raise AuthError(
                f"{self.host} uses {challenge.scheme.capitalize()} authentication, not tokens"
            )
        token = self._drive(self.keys.token_flow(challenge, [scope]))
        self.keys.tokens[scope] = token
        return token

    def check_login(self) -> bool:
        """Whether the registry accepts this session's credentials: False when it asks for
        none; AuthError when it refuses them."""
        response = self._ping()
        if response.status_code == 200:
            return False
        challenge = challenge_of(response)
        if response.status_code != 401 or challenge is None:
            raise UnexpectedResponse(f"{self.host} answered {error_summary(response)} to GET /v2/")
        if challenge.scheme == "bearer":
            self._drive(self.keys.token_flow(challenge, []))
            return True
        self._drive(self.keys.answer(challenge, ""))

        def signed() -> httpx.Request:
            request = self._http.build_request("GET", "/v2/")
            self.keys.authorize(request, "")
            return request

        response = self._call(signed)
        if response.status_code != 200:
            raise AuthError(f"{self.host} refused the credentials: {error_summary(response)}")
        return True
