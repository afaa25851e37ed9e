"""The access log of the shared auth server: one JSON line per request with its fields, the
caller named by its account, refused logins and denied requests as warnings naming the user
tried, and none of the secrets a request carried (headers, cookies, forms, query strings).

Each request is found in the log by the ``X-Request-Id`` its answer carried.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx

from tests.api.helpers import push_image
from tests.auth.helpers import (
    ADMIN_PASSWORD,
    SERVICE,
    assert_no_secret_logged,
    basic,
    bearer,
    post_token,
    push,
    remember,
    request_token,
)
from tests.auth.world import ADMIN, BOB, World, unique
from tests.ssl_context import SHARED
from tests.ui.test_sessions import csrf_of

FIELDS = {
    "time",
    "level",
    "logger",
    "message",
    "request_id",
    "method",
    "path",
    "route",
    "status",
    "duration_ms",
    "bytes_in",
    "bytes_out",
    "user",
    "client",
    "worker",
}


def line_of(world: World, response: httpx.Response) -> dict[str, Any]:
    """The access line of ``response``'s request (written once the answer is sent: polled)."""
    rid = response.headers["x-request-id"]
    deadline = time.monotonic() + 10
    while True:
        for text in world.server.log().splitlines():
            if rid in text and text.startswith("{"):
                line: dict[str, Any] = json.loads(text)
                if line.get("request_id") == rid:
                    return line
        assert time.monotonic() < deadline, f"no access line for request {rid}"
        time.sleep(0.02)


def test_a_request_is_one_json_line_with_its_fields(world: World) -> None:
    name = unique("acme")
    with world.admin_client(name) as http:
        pushed = push_image(http, name, "latest")
        # The same pull again: answered from what the worker kept (api/pull_answers.py),
        # and logged as fully as the first.
        pulls = [
            http.get(f"/v2/{name}/manifests/latest", headers={"accept": pushed.media_type})
            for _ in range(3)
        ]
    assert len({got.headers["x-request-id"] for got in pulls}) == 3
    for got in pulls:
        assert got.status_code == 200
        line = line_of(world, got)
        assert set(line) >= FIELDS, line
        assert line["level"] == "info" and line["logger"] == "tagtrail.access"
        assert (line["method"], line["path"], line["route"]) == (
            "GET",
            f"/v2/{name}/manifests/latest",
            "manifest",
        )
        assert line["status"] == 200 and line["bytes_out"] == len(pushed.body)
        assert line["bytes_in"] == 0 and line["duration_ms"] >= 0
        assert line["user"] == "user:admin"  # the token's subject
        assert line["client"] == "127.0.0.1"
        assert line["time"].endswith("Z")


def test_a_pull_token_is_logged_by_its_id(world: World) -> None:
    token = world.acme_pull
    response = httpx.get(
        f"{world.url}/v2/_catalog", headers=basic(token.id, token.secret), verify=SHARED
    )
    assert line_of(world, response)["user"] == f"token:{token.id}"


def test_a_refused_login_is_a_warning_naming_the_user(world: World) -> None:
    who = f"mallory-{uuid.uuid4().hex[:8]}"
    wrong = f"wrong-{uuid.uuid4().hex}"
    remember(wrong)
    refused = request_token(world.url, [], (who, wrong))
    assert refused.status_code == 401
    line = line_of(world, refused)
    assert line["level"] == "warning" and line["login"] == who, line
    assert who in line["message"] and "refused login" in line["message"]
    form = {"grant_type": "password", "username": who, "password": wrong, "service": SERVICE}
    line = line_of(world, post_token(world.url, form))
    assert (line["level"], line["login"], line["status"]) == ("warning", who, 401)
    with httpx.Client(base_url=world.url, verify=SHARED) as browser:
        csrf = csrf_of(browser.get("/login"))
        signed = browser.post("/login", data={"csrf": csrf, "username": who, "password": wrong})
    assert signed.status_code == 401
    line = line_of(world, signed)
    assert (line["level"], line["login"], line["route"]) == ("warning", who, "ui")


def test_a_denied_request_is_a_warning_naming_the_user(world: World) -> None:
    name = unique("acme")
    denied = httpx.post(f"{world.url}/v2/{name}/blobs/uploads/", headers=basic(*BOB), verify=SHARED)
    assert denied.status_code == 403
    line = line_of(world, denied)
    assert line["level"] == "warning" and line["user"] == "user:bob", line
    assert "denied" in line["message"]


def test_an_anonymous_challenge_is_no_warning(world: World) -> None:
    challenged = httpx.get(f"{world.url}/v2/", verify=SHARED)
    assert challenged.status_code == 401
    assert line_of(world, challenged)["level"] == "info"


def test_no_secret_of_any_kind_in_the_log(world: World) -> None:
    """Secrets in every place a request carries them: Basic, Bearer, a form, the UI's sign-in
    and its cookie, and a query string (which the log leaves out)."""
    name = unique("acme")
    token = world.token([push(name)], ADMIN)
    with world.admin_client(name) as http:
        push_image(http, name, "latest")
    query_secret = f"qs-{uuid.uuid4().hex}"
    remember(token, query_secret)
    httpx.get(
        f"{world.url}/v2/{name}/tags/list",
        params={"password": query_secret, "token": query_secret},
        headers=bearer(token),
        verify=SHARED,
    )
    secret = world.acme_push.secret
    httpx.get(f"{world.url}/v2/{name}/tags/list", headers=bearer(secret), verify=SHARED)
    with httpx.Client(base_url=world.url, verify=SHARED) as browser:
        csrf = csrf_of(browser.get("/login"))
        form = {"csrf": csrf, "username": "admin", "password": ADMIN_PASSWORD}
        assert browser.post("/login", data=form).status_code == 303
        home = browser.get("/")
        cookie = browser.cookies["tagtrail_session"]
    assert home.status_code == 200
    remember(csrf, cookie)
    line_of(world, home)  # every line above is written by now (one worker, in order)
    log = world.server.log()
    assert_no_secret_logged(log, world.server.log_path)
    assert query_secret not in log and cookie not in log and csrf not in log
    assert "alembic" not in log.lower()  # its start-up lines are for the debug level
