"""Sessions and forms over plain HTTP (no browser): cookie flags, CSRF, origins, redirects,
forged cookies, security headers, and the Secure flag under TLS."""

from __future__ import annotations

import re
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trustme

from tests.api.helpers import push_image
from tests.server import RunningServer, start_server
from tests.ui.conftest import ADMIN_PASSWORD, PRIVATE_ORG, UiWorld
from tests.ui.helpers import unique

CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(page: httpx.Response) -> str:
    match = CSRF_RE.search(page.text)
    assert match, page.text[:500]
    return match.group(1)


@pytest.fixture
def browser_like(ui: UiWorld) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=ui.url, timeout=30) as http:
        yield http


def sign_in(http: httpx.Client, username: str, password: str, **extra: str) -> httpx.Response:
    csrf = csrf_of(http.get("/login"))
    form = {"csrf": csrf, "username": username, "password": password, **extra}
    return http.post("/login", data=form)


def test_session_cookie_flags_and_headers(browser_like: httpx.Client) -> None:
    page = browser_like.get("/")
    assert page.status_code == 200
    cookie = page.headers["set-cookie"]
    assert cookie.startswith("tagtrail_session=")
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert "httponly" in flags and "samesite=lax" in flags and "path=/" in flags
    assert "secure" not in flags  # plain HTTP: a Secure cookie would never come back
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert page.headers["x-content-type-options"] == "nosniff"


def test_sign_in_needs_the_session_csrf_token(browser_like: httpx.Client, ui: UiWorld) -> None:
    browser_like.get("/login")
    form = {"username": "admin", "password": ADMIN_PASSWORD}
    assert browser_like.post("/login", data=form).status_code == 403
    assert browser_like.post("/login", data={**form, "csrf": "guess"}).status_code == 403
    # A token from another session does not work either.
    with httpx.Client(base_url=ui.url) as other:
        foreign = csrf_of(other.get("/login"))
    assert browser_like.post("/login", data={**form, "csrf": foreign}).status_code == 403
    # Nor does a form posted from another origin, even with the right token.
    csrf = csrf_of(browser_like.get("/login"))
    posted = browser_like.post(
        "/login", data={**form, "csrf": csrf}, headers={"Origin": "https://evil.example"}
    )
    assert posted.status_code == 403
    # Without a cookie at all (a cross-site form in a fresh browser) it fails too.
    with httpx.Client(base_url=ui.url) as fresh:
        assert fresh.post("/login", data={**form, "csrf": csrf}).status_code == 403


def test_sign_in_and_out(browser_like: httpx.Client) -> None:
    name = unique(PRIVATE_ORG)
    with httpx.Client(base_url=browser_like.base_url, auth=("admin", ADMIN_PASSWORD)) as api:
        push_image(api, name, "latest")
    wrong = sign_in(browser_like, "admin", "not-the-password")
    assert wrong.status_code == 401
    assert "wrong password" in wrong.text
    assert browser_like.get(f"/repo/{name}").status_code == 404
    # An off-site "next" is never followed.
    done = sign_in(browser_like, "admin", ADMIN_PASSWORD, next="//evil.example/x")
    assert done.status_code == 303 and done.headers["location"] == "/"
    cookie = done.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert browser_like.get(f"/repo/{name}").status_code == 200
    # Signing out needs the token too, and then the repository is hidden again.
    page = browser_like.get("/")
    assert browser_like.post("/logout", data={"csrf": "nope"}).status_code == 403
    assert browser_like.get(f"/repo/{name}").status_code == 200
    out = browser_like.post("/logout", data={"csrf": csrf_of(page)})
    assert out.status_code == 303
    assert browser_like.get(f"/repo/{name}").status_code == 404


def test_forged_session_cookie_is_ignored(ui: UiWorld) -> None:
    name = unique(PRIVATE_ORG)
    with httpx.Client(base_url=ui.url, auth=("admin", ADMIN_PASSWORD)) as api:
        push_image(api, name, "latest")
    with httpx.Client(base_url=ui.url) as http:
        assert sign_in(http, "admin", ADMIN_PASSWORD).status_code == 303
        good = http.cookies["tagtrail_session"]
    payload, _, signature = good.partition(".")
    forged = [f"{payload}.{'A' * len(signature)}", payload, "x.y", ""]
    for value in forged:
        with httpx.Client(base_url=ui.url, cookies={"tagtrail_session": value}) as http:
            assert http.get(f"/repo/{name}").status_code == 404, value
    with httpx.Client(base_url=ui.url, cookies={"tagtrail_session": good}) as http:
        assert http.get(f"/repo/{name}").status_code == 200


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[RunningServer, Path]]:
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1")
    cert, key, bundle = tmp_path / "server.pem", tmp_path / "server.key", tmp_path / "ca.pem"
    cert.write_bytes(b"".join(pem.bytes() for pem in leaf.cert_chain_pems))
    leaf.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(bundle))
    running = start_server(
        tmp_path / "data",
        "--auth",
        "--tls-cert",
        str(cert),
        "--tls-key",
        str(key),
        env={"TAGTRAIL_ADMIN_PASSWORD": ADMIN_PASSWORD},
    )
    yield running, bundle
    running.stop()


def test_session_cookie_is_secure_under_tls(tls_server: tuple[RunningServer, Path]) -> None:
    server, bundle = tls_server
    trust = ssl.create_default_context(cafile=str(bundle))
    with httpx.Client(base_url=server.url, verify=trust) as http:
        page = http.get("/login")
        assert page.status_code == 200
        flags = {part.strip().lower() for part in page.headers["set-cookie"].split(";")[1:]}
        assert {"secure", "httponly", "samesite=lax"} <= flags
        done = sign_in(http, "admin", ADMIN_PASSWORD)
        assert done.status_code == 303
        assert "secure" in done.headers["set-cookie"].lower()
