"""Repeated logins verify a password with argon2 once, against a real server that counts its
argon2 verifications (tests/auth/argon2_counter). What the account store says still holds at
once: a changed password or a removed user is refused on the next request."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.api.helpers import assert_oci_error
from tests.auth.argon2_counter.sitecustomize import SLOW_SECONDS
from tests.auth.cli import add_user, admin_cli
from tests.auth.helpers import ADMIN_PASSWORD, SERVICE, basic, post_token, pull, request_token
from tests.server import RunningServer, start_server
from tests.ssl_context import SHARED

COUNTER = Path(__file__).with_name("argon2_counter")


@dataclass(frozen=True)
class Counted:
    server: RunningServer
    log: Path

    @property
    def url(self) -> str:
        return self.server.url

    def verifications(self) -> int:
        return len(self.log.read_text().splitlines()) if self.log.exists() else 0

    def user(self, password: str | None = None) -> tuple[str, str]:
        credentials = ("u-" + uuid.uuid4().hex[:10], password or "pw-" + uuid.uuid4().hex)
        add_user(self.server.data_dir, *credentials)
        return credentials


@pytest.fixture(scope="module")
def counted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Counted]:
    work = tmp_path_factory.mktemp("logins")
    log = work / "argon2.log"
    path = os.pathsep.join(p for p in (str(COUNTER), os.environ.get("PYTHONPATH")) if p)
    env = {"TAGTRAIL_ADMIN_PASSWORD": ADMIN_PASSWORD, "PYTHONPATH": path}
    # One worker: each worker process has its own cache (and verifies once for itself).
    server = start_server(
        work / "data", "--auth", "--workers", "1", env={**env, "ARGON2_VERIFY_LOG": str(log)}
    )
    try:
        yield Counted(server, log)
    finally:
        server.stop()


def _token(counted: Counted, credentials: tuple[str, str]) -> int:
    return request_token(counted.url, [pull("acme/app")], credentials).status_code


def _password_grant(counted: Counted, credentials: tuple[str, str]) -> int:
    form = {"grant_type": "password", "service": SERVICE, "scope": pull("acme/app")}
    username, password = credentials
    return post_token(counted.url, form | {"username": username, "password": password}).status_code


def _basic_v2(counted: Counted, credentials: tuple[str, str]) -> int:
    return httpx.get(
        f"{counted.url}/v2/", headers=basic(*credentials), timeout=30, verify=SHARED
    ).status_code


def test_repeated_logins_verify_the_password_once(counted: Counted) -> None:
    credentials = counted.user()
    before = counted.verifications()
    for login in (_token, _password_grant, _basic_v2) * 4:
        assert login(counted, credentials) == 200
    assert counted.verifications() == before + 1


def test_a_wrong_password_is_refused_and_verified_every_time(counted: Counted) -> None:
    name, password = counted.user()
    assert _token(counted, (name, password)) == 200
    before = counted.verifications()
    for attempt in range(3):
        wrong = (name, password + "x")
        assert_oci_error(request_token(counted.url, [], wrong), 401, "UNAUTHORIZED")
        assert _basic_v2(counted, wrong) == 401
        assert counted.verifications() == before + 2 * (attempt + 1)
    # The right one is still remembered: wrong ones did not push it out.
    assert _token(counted, (name, password)) == 200
    assert counted.verifications() == before + 6
    # Nor is another user's password remembered for this one.
    other_name, other_password = counted.user()
    assert _token(counted, (other_name, other_password)) == 200
    assert _token(counted, (name, other_password)) == 401


def test_a_changed_password_is_refused_at_once(counted: Counted) -> None:
    name, old = counted.user()
    for login in (_token, _password_grant, _basic_v2):
        assert login(counted, (name, old)) == 200
    new = "pw-" + uuid.uuid4().hex
    # Another process changes it, as an operator would, while the server runs.
    admin_cli(counted.server.data_dir, "user", "passwd", name, "--password-stdin", stdin=new)
    for login in (_token, _password_grant, _basic_v2):
        assert login(counted, (name, old)) == 401
        assert login(counted, (name, new)) == 200


def test_a_removed_user_is_refused_at_once(counted: Counted) -> None:
    credentials = counted.user()
    for login in (_token, _password_grant, _basic_v2):
        assert login(counted, credentials) == 200
    admin_cli(counted.server.data_dir, "user", "rm", credentials[0])
    for login in (_token, _password_grant, _basic_v2):
        assert login(counted, credentials) == 401
    # The same name and password again make a new account: its own stored hash, verified anew.
    before = counted.verifications()
    add_user(counted.server.data_dir, *credentials)
    assert _token(counted, credentials) == 200
    assert counted.verifications() == before + 1


def test_logins_at_the_same_moment_share_one_verification(counted: Counted) -> None:
    credentials = counted.user("slow-" + uuid.uuid4().hex)
    before = counted.verifications()
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: _token(counted, credentials), range(6)))
    assert answers == [200] * 6
    assert counted.verifications() == before + 1


def test_verification_leaves_the_server_answering_others(counted: Counted) -> None:
    """While argon2 runs (held 1.5 s here), the worker's event loop serves other requests."""
    credentials = counted.user("slow-" + uuid.uuid4().hex)
    before = counted.verifications()
    finished: list[float] = []

    def login() -> None:
        assert _token(counted, credentials) == 200
        finished.append(time.monotonic())

    thread = threading.Thread(target=login)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while counted.verifications() == before and time.monotonic() < deadline:
            time.sleep(0.01)
        assert counted.verifications() == before + 1
        # When it began, by the server's CLOCK_MONOTONIC: the same clock as this process's.
        began = float(counted.log.read_text().splitlines()[-1].split()[1])
        assert httpx.get(f"{counted.url}/v2/", timeout=30, verify=SHARED).status_code == 401
        answered = time.monotonic()
        assert answered < began + SLOW_SECONDS, "GET /v2/ waited for the verification"
    finally:
        thread.join(30)
    assert finished and finished[0] >= began + SLOW_SECONDS
