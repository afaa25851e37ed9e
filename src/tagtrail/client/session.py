"""An HTTP session to one registry, with the Docker token (bearer-challenge) flow.

A request goes out with the token cached for its scope, if any. On ``401`` with
``WWW-Authenticate: Bearer realm=...,service=...,scope=...`` the session asks the realm for a
token (anonymously, with Basic credentials, or with an identity token as an OAuth2 refresh
token), caches it and retries once; a second 401 is an AuthError naming the refused scope.
A ``Basic`` challenge is answered with the Basic credentials. Transport failures become
RegistryUnreachable, so no command ever shows a traceback for them; a TLS/HTTP mismatch is
said in words, and a loopback registry that speaks only plain HTTP is fallen back to on the
first request (``schemes``).
"""

from __future__ import annotations

import base64
import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx

from tagtrail import __version__
from tagtrail.client.dockerconfig import Credentials
from tagtrail.client.errors import (
    AuthError,
    RegistryUnreachable,
    UnexpectedResponse,
    UsageError,
)
from tagtrail.client.reference import Endpoint
from tagtrail.client.schemes import explain, handshake_refused, reason

USER_AGENT = f"tagtrail/{__version__}"
CLIENT_ID = "tagtrail"
_PARAM_RE = re.compile(r'([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*))')

CredentialSource = Callable[[], Credentials | None]
QueryParams = Mapping[str, str] | None


def pull_scope(repository: str) -> str:
    return f"repository:{repository}:pull"


def push_scope(repository: str) -> str:
    return f"repository:{repository}:pull,push"


@dataclass(frozen=True, slots=True)
class Challenge:
    """A parsed ``WWW-Authenticate`` header: the scheme (lowercase) and its parameters."""

    scheme: str
    params: dict[str, str]

    @property
    def scopes(self) -> list[str]:
        return self.params.get("scope", "").split()


def parse_challenge(header: str) -> Challenge | None:
    scheme, _, rest = header.strip().partition(" ")
    if not scheme:
        return None
    params = {
        match.group(1).lower(): (
            re.sub(r"\\(.)", r"\1", match.group(2))
            if match.group(2) is not None
            else match.group(3)
        )
        for match in _PARAM_RE.finditer(rest)
    }
    return Challenge(scheme.lower(), params)


def error_summary(response: httpx.Response) -> str:
    """``404 Not Found: MANIFEST_UNKNOWN: manifest unknown`` from an OCI error body."""
    text = f"{response.status_code} {response.reason_phrase}".strip()
    try:
        body = response.json()
        first = body["errors"][0]
        return f"{text}: {first['code']}: {first['message']}"
    except (ValueError, KeyError, IndexError, TypeError):
        return text


def error_codes(response: httpx.Response) -> list[str]:
    try:
        body = response.json()
        return [str(error["code"]) for error in body["errors"]]
    except (ValueError, KeyError, TypeError):
        return []


def basic_header(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


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
        self._credential_source = credentials
        self._credentials: Credentials | None = None
        self._credentials_loaded = False
        self._tokens: dict[str, str] = {}
        self._basic = False
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

    def credentials(self) -> Credentials | None:
        """The registry's credentials, looked up (helpers run) only when first needed."""
        if not self._credentials_loaded:
            self._credentials = self._credential_source()
            self._credentials_loaded = True
        return self._credentials

    def _who(self) -> str:
        found = self.credentials()
        if found is None:
            key = self.endpoint.auth_key
            return f"anonymous: no credentials for {key}; see tagtrail login {key}"
        return f"as {found.who}"

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
        answered = False
        while True:
            response = self._send(method, target, scope, params, headers, content)
            if response.status_code != 401 or answered:
                break
            challenge = parse_challenge(response.headers.get("www-authenticate", ""))
            if challenge is None:
                raise AuthError(
                    f"{self.host} answered 401 to {method} {response.url.path} "
                    "without saying how to authenticate"
                )
            self._answer(challenge, scope)
            answered = True
        if response.status_code == 401:
            challenge = parse_challenge(response.headers.get("www-authenticate", ""))
            refused = " ".join(challenge.scopes) if challenge and challenge.scopes else scope
            raise AuthError(
                f"{self.host} answered 401 Unauthorized: scope {refused} refused ({self._who()})"
            )
        if response.status_code == 403:
            raise AuthError(
                f"{self.host} answered {error_summary(response)} to {method} "
                f"{response.url.path} ({self._who()})"
            )
        return response

    def _send(
        self,
        method: str,
        target: str,
        scope: str,
        params: QueryParams,
        headers: Mapping[str, str] | None,
        content: bytes | None,
    ) -> httpx.Response:
        sent = dict(headers or {})
        found = self.credentials() if self._basic else None
        if found is not None:
            sent["Authorization"] = basic_header(found.username, found.password)
        elif scope in self._tokens:
            sent["Authorization"] = f"Bearer {self._tokens[scope]}"
        return self._call(
            lambda: self._http.request(method, target, params=params, headers=sent, content=content)
        )

    def _call(self, send: Callable[[], httpx.Response], where: str | None = None) -> httpx.Response:
        """``send`` (a request to the registry itself unless ``where`` names another URL),
        its transport failures made ClientErrors."""
        own = where is None
        try:
            response = send()
        except httpx.TransportError as exc:
            if own and self._negotiating and handshake_refused(exc):
                return self._fall_back(send, exc)
            raise self._failure(exc, where or self.endpoint.base_url) from exc
        if own:
            self._negotiating = False
        return response

    def _failure(self, exc: httpx.TransportError, where: str) -> Exception:
        if isinstance(exc, httpx.TimeoutException):
            return RegistryUnreachable(f"{where} did not answer within {self._timeout:g}s")
        if isinstance(exc, (httpx.InvalidURL, httpx.UnsupportedProtocol)):
            return UsageError(f"cannot request {where}: {exc}")
        return RegistryUnreachable(f"cannot reach {where}: {explain(exc, where)}")

    def _fall_back(self, send: Callable[[], httpx.Response], first: Exception) -> httpx.Response:
        """Send again over plain HTTP: the HTTPS handshake failed the way a plain-HTTP server
        makes it fail. Nothing reached the registry, so any request may be repeated."""
        self._negotiating = False
        self.endpoint = dataclasses.replace(self.endpoint, scheme="http", fallback=False)
        self._http.base_url = httpx.URL(self.endpoint.base_url)
        try:
            return send()
        except httpx.TimeoutException as exc:
            raise self._failure(exc, self.endpoint.base_url) from exc
        except httpx.TransportError as exc:
            raise RegistryUnreachable(
                f"cannot reach {self.host} over HTTPS ({reason(first)}) "
                f"or plain HTTP ({reason(exc)})"
            ) from exc

    # -- authentication ---------------------------------------------------------------------

    def _answer(self, challenge: Challenge, scope: str) -> None:
        if challenge.scheme == "basic":
            found = self.credentials()
            if found is None or not found.username:
                raise AuthError(
                    f"{self.host} asks for a user name and password and there are none "
                    f"for {self.endpoint.auth_key} (tagtrail login {self.endpoint.auth_key})"
                )
            self._basic = True
            return
        if challenge.scheme != "bearer":
            raise AuthError(f"{self.host} asks for unsupported authentication {challenge.scheme!r}")
        scopes = challenge.scopes or [scope]
        if scope not in scopes:
            scopes.append(scope)
        self._tokens[scope] = self.fetch_token(challenge, scopes)

    def fetch_token(self, challenge: Challenge, scopes: Sequence[str]) -> str:
        """A token from the challenge's realm for ``scopes``."""
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
            response = self._call(lambda: self._http.post(realm, data=form), realm)
        else:
            query: list[tuple[str, str | int | float | bool | None]] = (
                [("service", service)] if service else []
            )
            query += [("scope", scope) for scope in scopes]
            auth = httpx.BasicAuth(found.username, found.password) if found else None
            response = self._call(lambda: self._http.get(realm, params=query, auth=auth), realm)
        if response.status_code in (401, 403):
            who = "an anonymous token" if found is None else f"the credentials of {found.who}"
            raise AuthError(f"the token service {realm} refused {who}: {error_summary(response)}")
        if response.status_code != 200:
            raise UnexpectedResponse(
                f"the token service {realm} answered {error_summary(response)}"
            )
        try:
            body: Any = response.json()
            token = body.get("token") or body.get("access_token")
        except (ValueError, AttributeError) as exc:
            raise UnexpectedResponse(f"the token service {realm} answered no JSON") from exc
        if not isinstance(token, str) or not token:
            raise UnexpectedResponse(f"the token service {realm} answered no token")
        return token

    def token_for(self, scope: str) -> str | None:
        """A bearer token for ``scope`` as ``crane auth token`` gets one: ping ``/v2/`` for the
        challenge, then ask its realm. None when the registry asks for no authentication."""
        response = self._call(lambda: self._http.get("/v2/"))
        if response.status_code == 200:
            return None
        challenge = parse_challenge(response.headers.get("www-authenticate", ""))
        if response.status_code != 401 or challenge is None:
            raise UnexpectedResponse(f"{self.host} answered {error_summary(response)} to GET /v2/")
        if challenge.scheme != "bearer":
            raise AuthError(
                f"{self.host} uses {challenge.scheme.capitalize()} authentication, not tokens"
            )
        token = self.fetch_token(challenge, [scope])
        self._tokens[scope] = token
        return token

    def check_login(self) -> bool:
        """Whether the registry accepts this session's credentials: False when it asks for
        none; AuthError when it refuses them."""
        response = self._call(lambda: self._http.get("/v2/"))
        if response.status_code == 200:
            return False
        challenge = parse_challenge(response.headers.get("www-authenticate", ""))
        if response.status_code != 401 or challenge is None:
            raise UnexpectedResponse(f"{self.host} answered {error_summary(response)} to GET /v2/")
        if challenge.scheme == "bearer":
            self.fetch_token(challenge, [])
            return True
        self._answer(challenge, "")
        response = self._send("GET", "/v2/", "", None, None, None)
        if response.status_code != 200:
            raise AuthError(f"{self.host} refused the credentials: {error_summary(response)}")
        return True
