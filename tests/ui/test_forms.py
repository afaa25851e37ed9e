"""The two forms, the UI's sign-in and the OAuth2 token endpoint, read by one helper with one
rule: a repeated field is refused (400) unless the endpoint names it a list (the token
endpoint's ``scope``), a body over the limit is refused (413), and so is a body that is no
url-encoded form, or that has too many fields (400)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlencode

import httpx
import pytest

from tests.api.helpers import assert_oci_error
from tests.auth.jwts import access_of
from tests.ui.conftest import ADMIN_PASSWORD, PRIVATE_ORG, UiWorld
from tests.ui.helpers import unique
from tests.ui.test_sessions import csrf_of

FORM = {"content-type": "application/x-www-form-urlencoded"}


@dataclass
class Endpoint:
    """A form endpoint: where it is and the fields of a good request to it."""

    path: str
    http: httpx.Client
    fields: list[tuple[str, str]]

    def post(self, content: bytes | Iterator[bytes], **headers: str) -> httpx.Response:
        return self.http.post(self.path, content=content, headers={**FORM, **headers})

    def refused(self, response: httpx.Response, status: int, words: str) -> None:
        """The endpoint's refusal: the OCI error body from /token, a page from /login."""
        if self.path == "/token":
            code = "TOKEN_REQUEST_INVALID" if status == 400 else "SIZE_INVALID"
            error = assert_oci_error(response, status, code)
            assert words in error["message"], error
        else:
            assert response.status_code == status, response.text[:500]
            assert "Form refused" in response.text and words in response.text


@pytest.fixture(params=["/login", "/token"])
def endpoint(request: pytest.FixtureRequest, ui: UiWorld) -> Iterator[Endpoint]:
    with httpx.Client(base_url=ui.url, timeout=30) as http:
        if request.param == "/login":
            csrf = csrf_of(http.get("/login"))  # and the session cookie it belongs to
            fields = [("csrf", csrf), ("username", "admin"), ("password", ADMIN_PASSWORD)]
        else:
            fields = [("grant_type", "password"), ("username", "admin")]
            fields += [("password", ADMIN_PASSWORD)]
        yield Endpoint(request.param, http, fields)


def test_the_good_form_is_accepted(endpoint: Endpoint) -> None:
    response = endpoint.post(urlencode(endpoint.fields).encode())
    assert response.status_code == (303 if endpoint.path == "/login" else 200), response.text


@pytest.mark.parametrize("field", ["username", "password"])
def test_a_repeated_field_is_refused(endpoint: Endpoint, field: str) -> None:
    # The first value is the good one: a parser that kept it would sign in.
    fields = [*endpoint.fields, (field, "other")]
    response = endpoint.post(urlencode(fields).encode())
    endpoint.refused(response, 400, "more than once")


def test_a_body_over_the_limit_is_refused(endpoint: Endpoint) -> None:
    padding = ("note", "x" * 70_000)  # over both limits (16 KiB at /login, 64 KiB at /token)
    body = urlencode([*endpoint.fields, padding]).encode()
    declared = endpoint.post(body)
    endpoint.refused(declared, 413, "too large")
    # Chunked, so no Content-Length to go by: the bytes that arrive are counted.
    chunked = endpoint.post(iter([body[:1000], body[1000:]]))
    endpoint.refused(chunked, 413, "too large")
    # Refused unread, the body's rest is on the wire: the server closes the connection and
    # says so, or the client's next request on it fails (api/connections.py).
    for response in (declared, chunked):
        assert response.headers["connection"] == "close"
    assert endpoint.post(urlencode(endpoint.fields).encode()).status_code in (200, 303)


def test_too_many_fields_are_refused(endpoint: Endpoint) -> None:
    fields = [*endpoint.fields, *((f"f{n}", "") for n in range(40))]
    endpoint.refused(endpoint.post(urlencode(fields).encode()), 400, "fields")


def test_a_body_of_another_type_is_refused(endpoint: Endpoint) -> None:
    body = urlencode(endpoint.fields).encode()
    for kind in ("application/json", "multipart/form-data; boundary=x", "text/plain"):
        endpoint.refused(endpoint.post(body, **{"content-type": kind}), 400, "must be")


def test_scope_is_a_list_field_of_the_token_endpoint(ui: UiWorld) -> None:
    """containers/image sends one ``scope`` field per scope: every one is granted."""
    first, second = unique(PRIVATE_ORG), unique(PRIVATE_ORG)
    fields = [("grant_type", "password"), ("username", "admin"), ("password", ADMIN_PASSWORD)]
    fields += [("scope", f"repository:{first}:pull"), ("scope", f"repository:{second}:push")]
    response = httpx.post(
        f"{ui.url}/token", content=urlencode(fields).encode(), headers=FORM, timeout=30
    )
    assert response.status_code == 200, response.text
    assert access_of(response.json()["access_token"]) == {
        ("repository", first): {"pull"},
        ("repository", second): {"push"},
    }
