"""A worker answers a repeated pull from what it kept (api/pull_answers.py) only while that
answer is still the one the whole way would give: nothing stored changed (in any worker),
the token still stands, and the request asks nothing else (Range, conditionals)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tagtrail.api.app import RegistryApp, token_authority
from tagtrail.api.http import RawResponse
from tagtrail.api.pull_answers import PullAnswers
from tagtrail.auth.model import PULL, PUSH, Grant
from tagtrail.auth.scopes import Scope
from tagtrail.auth.tokens import TokenAuthority
from tagtrail.meta.database import BACKSTOP_SECONDS
from tagtrail.web.guard import Guard, ReuseTerms
from tests.api.helpers import push_blob, push_image, random_bytes, repo
from tests.api.test_metrics import scrape, value
from tests.auth.helpers import Clock
from tests.inprocess import InProcessRegistry, in_process_registry

REUSED = "tagtrail_reused_answers_total"
PASSWORD = "pull-answers-" + "x" * 16


def _reused(http: httpx.Client, route: str = "manifest") -> float:
    return value(scrape(http), REUSED, route=route)


def test_a_repeated_pull_is_answered_from_what_was_kept(client: httpx.Client) -> None:
    name = repo("kept")
    pushed = push_image(client, name, "v1")
    before = _reused(client)
    for _ in range(3):
        got = client.get(f"/v2/{name}/manifests/v1")
        assert got.status_code == 200 and got.content == pushed.body
        assert got.headers["docker-content-digest"] == pushed.digest
        assert got.headers["docker-distribution-api-version"] == "registry/2.0"
    assert _reused(client) - before == 2


def test_no_answer_is_kept_when_the_setting_says_none(tmp_path: Path) -> None:
    name = repo("none")
    with (
        in_process_registry(tmp_path / "data", pull_answer_bytes=0) as registry,
        registry.client() as http,
    ):
        push_image(http, name, "v1")
        before = _reused(http)
        for _ in range(3):
            assert http.get(f"/v2/{name}/manifests/v1").status_code == 200
        assert _reused(http) == before


def test_range_and_head_get_their_own_answers_after_a_whole_get(client: httpx.Client) -> None:
    name = repo("kept")
    data = random_bytes(1000)
    digest = push_blob(client, name, data)
    for _ in range(2):
        assert client.get(f"/v2/{name}/blobs/{digest}").content == data
    part = client.get(f"/v2/{name}/blobs/{digest}", headers={"range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == data[10:20]
    assert part.headers["content-range"] == "bytes 10-19/1000"
    for _ in range(2):
        head = client.head(f"/v2/{name}/blobs/{digest}")
        assert head.status_code == 200 and head.content == b""
        assert head.headers["content-length"] == "1000"


def test_a_tag_moved_through_another_worker_is_pulled_at_once(tmp_path: Path) -> None:
    """Two apps on one data directory, as two workers: a move or a deletion through one is
    what the other answers next, though it kept the tag's earlier answer."""
    name, path = repo("workers"), tmp_path / "data"
    with (
        in_process_registry(path) as one,
        in_process_registry(path) as two,
        one.client() as puller,
        two.client() as pusher,
    ):
        first = push_image(pusher, name, "v1")
        for _ in range(3):
            got = puller.get(f"/v2/{name}/manifests/v1")
            assert got.headers["docker-content-digest"] == first.digest
        second = push_image(pusher, name, "v1")
        got = puller.get(f"/v2/{name}/manifests/v1")
        assert got.headers["docker-content-digest"] == second.digest
        assert got.content == second.body
        assert pusher.delete(f"/v2/{name}/manifests/v1").status_code == 202
        assert puller.get(f"/v2/{name}/manifests/v1").status_code == 404


def test_a_change_by_another_program_is_pulled_within_the_backstop(tmp_path: Path) -> None:
    """A write that bypassed the shared count (a writer that died before counting, or a
    program that is not tagtrail) is noticed by SQLite's own number soon after."""
    name = repo("foreign")
    with in_process_registry(tmp_path / "data") as registry, registry.client() as http:
        push_image(http, name, "v1")
        for _ in range(2):
            assert http.get(f"/v2/{name}/manifests/v1").status_code == 200
        with sqlite3.connect(registry.settings.data_dir / "tagtrail.db") as foreign:
            foreign.execute("DELETE FROM tags WHERE name = 'v1'")
        time.sleep(BACKSTOP_SECONDS * 1.5)
        assert http.get(f"/v2/{name}/manifests/v1").status_code == 404


@pytest.fixture
def clocked(tmp_path: Path) -> Iterator[tuple[InProcessRegistry, TokenAuthority, Clock]]:
    """A registry with auth on whose token authority runs on a clock the test moves."""
    with in_process_registry(tmp_path / "data", auth=True, admin_password=PASSWORD) as reg:
        clock = Clock()
        authority = token_authority(reg.settings, clock)
        app = reg.transport._asgi.app
        assert isinstance(app, RegistryApp)
        guard: Guard = app.app.state.guard
        guard.authority = authority
        yield reg, authority, clock


def _bearer(authority: TokenAuthority, name: str) -> dict[str, str]:
    scope = Scope("repository", name, frozenset({PULL, PUSH}))
    issued = authority.issue("user:admin", [(scope, Grant(scope.actions))])
    return {"authorization": f"Bearer {issued.token}"}


def test_a_kept_answer_is_not_given_once_its_token_expired(
    clocked: tuple[InProcessRegistry, TokenAuthority, Clock],
) -> None:
    registry, authority, clock = clocked
    name = repo("expiring")
    with registry.client(headers=_bearer(authority, name)) as http:
        push_image(http, name, "v1")
        before = _reused(http)
        for _ in range(2):
            assert http.get(f"/v2/{name}/manifests/v1").status_code == 200
        assert _reused(http) - before == 1
        clock.now += authority.ttl + 60  # past the expiry and its leeway
        refused = http.get(f"/v2/{name}/manifests/v1")
    assert refused.status_code == 401
    assert "www-authenticate" in refused.headers


def test_callers_checked_against_the_accounts_are_never_kept(
    clocked: tuple[InProcessRegistry, TokenAuthority, Clock],
) -> None:
    """Basic credentials (and a pull token's secret, checked the same live way) go the whole
    way every time: only a token's rights are the token's own."""
    registry, authority, _ = clocked
    name = repo("live")
    with registry.client(headers=_bearer(authority, name)) as http:
        push_image(http, name, "v1")
    app = registry.transport._asgi.app
    assert isinstance(app, RegistryApp) and app._answers is not None
    kept = len(app._answers)
    with registry.client(auth=("admin", PASSWORD)) as http:
        before = _reused(http)
        for _ in range(3):
            assert http.get(f"/v2/{name}/manifests/v1").status_code == 200
            assert len(app._answers) == kept  # not even kept
        assert _reused(http) == before


class _Fixed:
    def __init__(self) -> None:
        self.version: int | None = 1

    def data_version(self) -> int | None:
        return self.version


class _Everyone:
    def reuse_terms(self, credential: str) -> ReuseTerms | None:
        return (float("inf"), "")

    def still_within(self, terms: ReuseTerms) -> bool:
        return True


def _pull(path: str) -> dict[str, object]:
    return {"type": "http", "method": "GET", "path": path, "query_string": b"", "headers": []}


def test_kept_answers_are_bounded_and_dropped_with_their_version() -> None:
    answers, store, judge = PullAnswers(max_entries=3, max_bytes=100), _Fixed(), _Everyone()

    def offer(path: str, body: bytes, **options: object) -> None:
        scope = _pull(path)
        assert answers.look_up(scope, store, judge) is None
        status = int(str(options.get("status", 200)))
        reusable = bool(options.get("reusable", True))
        answers.keep(scope, RawResponse(status, [], body, reusable=reusable), judge)

    for number in range(5):
        offer(f"/{number}", b"x" * 10)
    assert len(answers) == 3  # the oldest went first
    assert answers.look_up(_pull("/0"), store, judge) is None
    found = answers.look_up(_pull("/4"), store, judge)
    assert found is not None and found.body == b"x" * 10
    offer("/big", b"y" * 90)  # bytes: room made by dropping the oldest
    assert answers.look_up(_pull("/big"), store, judge) is not None
    assert answers.look_up(_pull("/3"), store, judge) is None
    offer("/too-big", b"z" * 101)
    offer("/refused", b"n", status=404)
    offer("/unmarked", b"u", reusable=False)
    for path in ("/too-big", "/refused", "/unmarked"):
        assert answers.look_up(_pull(path), store, judge) is None
    store.version = 2
    assert answers.look_up(_pull("/big"), store, judge) is None
    assert len(answers) == 0
    store.version = None  # a store that cannot tell: nothing kept
    offer("/none", b"x")
    assert len(answers) == 0


def test_range_and_conditional_requests_are_never_looked_up() -> None:
    answers, store, judge = PullAnswers(), _Fixed(), _Everyone()
    plain = _pull("/v2/a/blobs/x")
    assert answers.look_up(plain, store, judge) is None
    answers.keep(plain, RawResponse(200, [], b"whole", reusable=True), judge)
    for header in (b"range", b"if-none-match", b"if-modified-since", b"if-range"):
        scope = {**_pull("/v2/a/blobs/x"), "headers": [(header, b"x")]}
        assert answers.look_up(scope, store, judge) is None
        assert "tagtrail.pull_answer" not in scope  # not kept either
    assert answers.look_up(_pull("/v2/a/blobs/x"), store, judge) is not None
