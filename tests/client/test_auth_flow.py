"""The authentication flow (``client.auth``, an ``httpx.Auth``) against scripted HTTP answers:
Basic challenges, token requests sent like the session's own, a token service that cannot be
reached, and ``auth token``/``login`` driving the token request on their own."""

from __future__ import annotations

import base64
import ssl
from collections.abc import Callable

import httpx
import pytest

from tagtrail.client.dockerconfig import Credentials
from tagtrail.client.errors import AuthError, RegistryUnreachable
from tagtrail.client.reference import endpoint_for
from tagtrail.client.session import USER_AGENT, RegistrySession, pull_scope

REALM = "http://auth.example/token"
BEARER = f'Bearer realm="{REALM}",service="reg"'
BASIC = 'Basic realm="reg"'
USER = Credentials("user", "secret", source="test")
BASIC_HEADER = "Basic " + base64.b64encode(b"user:secret").decode()


def session_with(
    handler: Callable[[httpx.Request], httpx.Response],
    credentials: Credentials | None = USER,
    registry: str = "reg.example",
) -> RegistrySession:
    return RegistrySession(
        endpoint_for(registry),
        lambda: credentials,
        timeout=7.0,
        transport=httpx.MockTransport(handler),
    )


def test_a_basic_challenge_is_answered_once_then_basic_goes_with_every_request() -> None:
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization"))
        if request.headers.get("authorization") != BASIC_HEADER:
            return httpx.Response(401, headers={"WWW-Authenticate": BASIC})
        return httpx.Response(200, json={})

    session = session_with(handler)
    for repository in ("a/b", "c/d"):
        response = session.request("GET", "/v2/", scope=pull_scope(repository))
        assert response.status_code == 200
    assert seen == [None, BASIC_HEADER, BASIC_HEADER]


def test_a_basic_challenge_without_credentials_is_one_line() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, headers={"WWW-Authenticate": BASIC})

    with pytest.raises(AuthError, match=r"^reg\.example asks for a user name and password"):
        session_with(handler, None).request("GET", "/v2/", scope=pull_scope("a/b"))


def test_a_401_without_a_challenge_is_one_line() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401)

    with pytest.raises(AuthError, match="answered 401 to GET /v2/a/b/tags/list without saying"):
        session_with(handler).request("GET", "/v2/a/b/tags/list", scope=pull_scope("a/b"))


def test_the_token_request_goes_out_like_the_sessions_own() -> None:
    """Built by the session's client: its User-Agent and its timeout, not httpx's defaults
    (a token service that hangs must time out like the registry)."""
    token_requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "auth.example":
            token_requests.append(request)
            return httpx.Response(200, json={"token": "T"})
        if request.headers.get("authorization") == "Bearer T":
            return httpx.Response(200, json={})
        return httpx.Response(401, headers={"WWW-Authenticate": BEARER})

    session = session_with(handler)
    assert session.request("GET", "/v2/", scope=pull_scope("a/b")).status_code == 200
    (token_request,) = token_requests
    assert token_request.headers["user-agent"] == USER_AGENT
    assert token_request.headers["authorization"] == BASIC_HEADER
    assert token_request.extensions["timeout"]["read"] == 7.0


def test_an_unreachable_token_service_is_named_and_never_falls_back() -> None:
    """A loopback registry answered over HTTPS; the token service's failure is the token
    service's, said as such, and does not make the session switch to plain HTTP."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.url.scheme}://{request.url.host}")
        if request.url.host == "auth.example":
            error = httpx.ConnectError("connection reset")
            error.__cause__ = ConnectionResetError("reset by peer")
            raise error
        return httpx.Response(401, headers={"WWW-Authenticate": BEARER})

    session = session_with(handler, registry="127.0.0.1:5000")
    with pytest.raises(RegistryUnreachable, match=rf"^cannot reach {REALM}: connection reset$"):
        session.request("GET", "/v2/", scope=pull_scope("a/b"))
    assert seen == ["https://127.0.0.1", "http://auth.example"]
    assert session.endpoint.base_url == "https://127.0.0.1:5000"


def test_a_token_service_that_does_not_answer_in_time_is_named() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "auth.example":
            raise httpx.ReadTimeout("timed out")
        return httpx.Response(401, headers={"WWW-Authenticate": BEARER})

    with pytest.raises(RegistryUnreachable, match=rf"^{REALM} did not answer within 7s$"):
        session_with(handler).request("GET", "/v2/", scope=pull_scope("a/b"))


def test_the_fallback_to_plain_http_carries_the_token_flow() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.url.scheme}://{request.url.host}")
        if request.url.scheme == "https":
            error = httpx.ConnectError("wrong version number")
            error.__cause__ = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version")
            raise error
        if request.url.host == "auth.example":
            return httpx.Response(200, json={"token": "T"})
        if request.headers.get("authorization") == "Bearer T":
            return httpx.Response(200, json={})
        return httpx.Response(401, headers={"WWW-Authenticate": BEARER})

    session = session_with(handler, registry="localhost:5000")
    assert session.request("GET", "/v2/", scope=pull_scope("a/b")).status_code == 200
    assert seen == [
        "https://localhost",
        "http://localhost",
        "http://auth.example",
        "http://localhost",
    ]


def test_auth_token_asks_the_realm_for_the_scope_and_caches_the_token() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host == "auth.example":
            return httpx.Response(200, json={"access_token": "T"})
        if request.headers.get("authorization") == "Bearer T":
            return httpx.Response(200, json={})
        return httpx.Response(401, headers={"WWW-Authenticate": BEARER})

    session = session_with(handler)
    assert session.token_for(pull_scope("a/b")) == "T"
    assert [r.url.path for r in seen] == ["/v2/", "/token"]
    assert seen[1].url.params.get_list("scope") == ["repository:a/b:pull"]
    # The token is the scope's now: a request for it goes out with it straight away.
    assert session.request("GET", "/v2/a/b/tags/list", scope=pull_scope("a/b")).status_code == 200
    assert len(seen) == 3


def test_auth_token_from_a_basic_registry_is_one_line() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, headers={"WWW-Authenticate": BASIC})

    with pytest.raises(AuthError, match="uses Basic authentication, not tokens"):
        session_with(handler).token_for(pull_scope("a/b"))


@pytest.mark.parametrize(("password", "accepted"), [("secret", True), ("wrong", False)])
def test_login_to_a_basic_registry(password: str, accepted: bool) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.headers.get("authorization") == BASIC_HEADER:
            return httpx.Response(200, json={})
        return httpx.Response(401, headers={"WWW-Authenticate": BASIC})

    session = session_with(handler, Credentials("user", password, source="test"))
    if accepted:
        assert session.check_login() is True
    else:
        with pytest.raises(AuthError, match=r"^reg\.example refused the credentials: 401"):
            session.check_login()


def test_login_to_a_token_registry_asks_for_a_token_with_the_credentials() -> None:
    token_requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "auth.example":
            token_requests.append(request)
            if request.headers.get("authorization") != BASIC_HEADER:
                return httpx.Response(401, json={"errors": [{"code": "UNAUTHORIZED"}]})
            return httpx.Response(200, json={"token": "T"})
        return httpx.Response(401, headers={"WWW-Authenticate": BEARER})

    assert session_with(handler).check_login() is True
    bad = Credentials("user", "wrong", source="test")
    with pytest.raises(AuthError, match=rf"^the token service {REALM} refused the credentials"):
        session_with(handler, bad).check_login()
    assert len(token_requests) == 2
