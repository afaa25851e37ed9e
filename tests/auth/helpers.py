"""Helpers for the auth tests: credentials, the token endpoint and challenges."""

from __future__ import annotations

import base64
import re
import time
import uuid
from collections.abc import Sequence

import httpx

from tests.api.helpers import assert_oci_error
from tests.ssl_context import SHARED

SERVICE = "tagtrail"
ISSUER = "tagtrail"
ADMIN_PASSWORD = "admin-" + uuid.uuid4().hex

# Every secret the tests handle, to look for in the server logs at the end.
SECRETS: set[str] = {ADMIN_PASSWORD}


def remember(*secrets: str) -> None:
    SECRETS.update(s for s in secrets if s)


def assert_no_secret_logged(log: str, where: object) -> None:
    """No secret the tests handled so far, nor a token's signature or the admin's Basic
    credentials, is in ``log`` (the server log at ``where``)."""
    assert "listening" in log  # the right file
    leaked = sorted(secret for secret in SECRETS if secret in log)
    assert not leaked, f"{len(leaked)} secrets in {where}: {leaked[:3]}"
    for secret in SECRETS:  # nor any recognisable part of a token (its signature)
        signature = secret.rpartition(".")[2]
        assert len(signature) < 20 or signature not in log, f"a token's signature in {where}"
    assert base64.b64encode(ADMIN_PASSWORD.encode()).decode() not in log


# -- credentials and the token endpoint -------------------------------------------------------


def basic(username: str, password: str) -> dict[str, str]:
    encoded = base64.b64encode(f"{username}:{password}".encode()).decode()
    remember(encoded)
    return {"Authorization": f"Basic {encoded}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


Credentials = tuple[str, str] | None


def request_token(
    url: str, scopes: Sequence[str] = (), credentials: Credentials = None, **params: str
) -> httpx.Response:
    """``GET /token`` with each scope as its own ``scope`` parameter."""
    query: list[tuple[str, str | int | float | bool | None]] = [("service", SERVICE)]
    query += [("scope", scope) for scope in scopes]
    query += list(params.items())
    headers = basic(*credentials) if credentials else {}
    response = httpx.get(f"{url}/token", params=query, headers=headers, timeout=30, verify=SHARED)
    if response.status_code == 200:
        body = response.json()
        remember(body.get("token", ""), body.get("refresh_token", ""))
    return response


def token_for(url: str, scopes: Sequence[str] = (), credentials: Credentials = None) -> str:
    response = request_token(url, scopes, credentials)
    assert response.status_code == 200, response.text
    token: str = response.json()["token"]
    return token


def post_token(url: str, form: dict[str, str]) -> httpx.Response:
    response = httpx.post(f"{url}/token", data=form, timeout=30, verify=SHARED)
    if response.status_code == 200:
        body = response.json()
        remember(body.get("access_token", ""), body.get("refresh_token", ""))
    return response


def pull(name: str) -> str:
    return f"repository:{name}:pull"


def push(name: str) -> str:
    return f"repository:{name}:pull,push"


def everything(name: str) -> str:
    return f"repository:{name}:pull,push,delete"


def client(url: str, token: str | None = None) -> httpx.Client:
    """A client sending ``token`` as Bearer on every request (tests.api.helpers take it)."""
    return httpx.Client(
        base_url=url, headers=bearer(token) if token else {}, timeout=30, verify=SHARED
    )


# -- challenges -------------------------------------------------------------------------------

_PARAM_RE = re.compile(r'\s*([a-zA-Z_]+)="([^"]*)"\s*(?:,|$)')


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = header.partition(" ")
    params: dict[str, str] = {}
    position = 0
    while position < len(rest):
        match = _PARAM_RE.match(rest, position)
        assert match, f"malformed challenge: {header!r}"
        assert match.group(1) not in params, f"repeated parameter: {header!r}"
        params[match.group(1)] = match.group(2)
        position = match.end()
    return scheme, params


def _scopes(text: str) -> dict[tuple[str, str], set[str]]:
    parsed: dict[tuple[str, str], set[str]] = {}
    for scope in text.split():
        kind, _, rest = scope.partition(":")
        name, _, actions = rest.rpartition(":")
        parsed.setdefault((kind, name), set()).update(actions.split(","))
    return parsed


def assert_challenge(
    response: httpx.Response,
    url: str,
    scopes: Sequence[str] | None,
    *,
    insufficient: bool | None,
) -> dict[str, str]:
    """401, an OCI UNAUTHORIZED body and a Bearer challenge naming every scope in ``scopes``
    (the resources exactly; for each, the actions needed, plus at most ``pull``, which
    Distribution also names for a push) or, for None, no scope.

    ``insufficient``: whether ``error="insufficient_scope"`` must (True) or must not (False)
    be there; None leaves it open.
    """
    assert_oci_error(response, 401, "UNAUTHORIZED")
    header = response.headers.get("www-authenticate")
    assert header, dict(response.headers)
    scheme, params = parse_challenge(header)
    assert scheme == "Bearer", header
    assert params["realm"] == f"{url}/token", header
    assert params["service"] == SERVICE, header
    if scopes is None:
        assert "scope" not in params, header
    else:
        named, needed = _scopes(params.get("scope", "")), _scopes(" ".join(scopes))
        assert set(named) == set(needed), header
        for resource, actions in needed.items():
            assert actions <= named[resource] <= actions | {"pull"}, header
    if insufficient is not None:
        assert (params.get("error") == "insufficient_scope") is insufficient, header
    return params


def assert_denied(response: httpx.Response, message: str) -> dict[str, object]:
    """403 DENIED naming what was denied to whom, with no challenge: a new token would not
    help, so none is asked for."""
    error = assert_oci_error(response, 403, "DENIED")
    assert "www-authenticate" not in response.headers, dict(response.headers)
    if response.request.method != "HEAD":
        assert error["message"] == message, error
    return error


class Clock:
    """A token authority's clock, which the tests move instead of sleeping."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now
