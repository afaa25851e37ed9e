"""The history page shows who moved the tag and how to viewers who may push, and offers them
"restore this" behind a confirmation page whose form carries the session's CSRF token; public
readers and pull-only viewers see neither, and cannot restore."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape
from urllib.parse import quote

import httpx
import pytest

from tests.api.helpers import Pushed, push_image
from tests.ui.conftest import ADMIN_PASSWORD, PRIVATE_ORG, PUBLIC_ORG, UiWorld
from tests.ui.helpers import unique
from tests.ui.test_sessions import csrf_of, sign_in

RESTORE_LINK_RE = re.compile(r'<a class="restore" href="([^"]+)">Restore this</a>')
BY_RE = re.compile(r'<td class="by" data-action="([^"]*)" data-actor="([^"]*)">')


@pytest.fixture
def viewer(ui: UiWorld) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=ui.url, timeout=30) as http:
        yield http


def pushed_twice(ui: UiWorld, org: str) -> tuple[str, Pushed, Pushed]:
    name = unique(org)
    with ui.pusher() as api:
        return name, push_image(api, name, "prod"), push_image(api, name, "prod")


def tag_page(http: httpx.Client, name: str) -> str:
    response = http.get(f"/repo/{quote(name)}/-/tag/prod")
    assert response.status_code == 200, response.text[:500]
    return response.text


def current(ui: UiWorld, name: str) -> str:
    with ui.pusher() as api:
        digest: str = api.head(f"/v2/{name}/manifests/prod").headers["docker-content-digest"]
        return digest


def newest_record(ui: UiWorld, name: str) -> dict[str, str]:
    with ui.pusher() as api:
        response = api.get(f"/v2/{name}/_oci/tag-history/prod")
    annotations: dict[str, str] = response.json()["manifests"][0]["annotations"]
    return annotations


def test_a_pusher_sees_who_and_restores_after_confirming(ui: UiWorld, viewer: httpx.Client) -> None:
    name, one, two = pushed_twice(ui, PUBLIC_ORG)
    assert sign_in(viewer, "admin", ADMIN_PASSWORD).status_code == 303
    page = tag_page(viewer, name)
    assert BY_RE.findall(page) == [("push", "admin"), ("push", "admin")]
    # Offered on the older row only: the newest is where the tag points.
    links = [unescape(link) for link in RESTORE_LINK_RE.findall(page)]
    assert links == [f"/repo/{quote(name)}/-/tag/prod/restore?digest={quote(one.digest)}"]
    confirmation = viewer.get(links[0])
    assert confirmation.status_code == 200, confirmation.text[:500]
    assert two.digest in confirmation.text and one.digest in confirmation.text
    assert current(ui, name) == two.digest  # nothing moves before the confirmation
    form = {"csrf": csrf_of(confirmation), "digest": one.digest}
    done = viewer.post(f"/repo/{quote(name)}/-/tag/prod/restore", data=form)
    assert done.status_code == 303, done.text[:500]
    assert done.headers["location"] == f"/repo/{quote(name)}/-/tag/prod"
    assert current(ui, name) == one.digest
    newest = newest_record(ui, name)
    assert (newest["dev.tagtrail.action"], newest["dev.tagtrail.actor"]) == ("restore", "admin")
    assert BY_RE.findall(tag_page(viewer, name))[0] == ("restore", "admin")


def test_the_form_needs_the_session_csrf_token(ui: UiWorld, viewer: httpx.Client) -> None:
    name, one, two = pushed_twice(ui, PUBLIC_ORG)
    assert sign_in(viewer, "admin", ADMIN_PASSWORD).status_code == 303
    path = f"/repo/{quote(name)}/-/tag/prod/restore"
    for form in ({"digest": one.digest}, {"digest": one.digest, "csrf": "guess"}):
        assert viewer.post(path, data=form).status_code == 403
    csrf = csrf_of(viewer.get(f"{path}?digest={quote(one.digest)}"))
    foreign = viewer.post(
        path, data={"csrf": csrf, "digest": one.digest}, headers={"Origin": "http://evil.test"}
    )
    assert foreign.status_code == 403
    assert current(ui, name) == two.digest


def test_public_readers_see_no_actors_and_cannot_restore(ui: UiWorld, viewer: httpx.Client) -> None:
    name, one, two = pushed_twice(ui, PUBLIC_ORG)
    page = tag_page(viewer, name)
    assert not BY_RE.findall(page) and not RESTORE_LINK_RE.findall(page)
    assert "admin" not in page
    path = f"/repo/{quote(name)}/-/tag/prod/restore"
    refused = viewer.get(f"{path}?digest={quote(one.digest)}")
    assert refused.status_code == 403 and "push rights" in refused.text
    csrf = csrf_of(viewer.get("/login"))
    assert viewer.post(path, data={"csrf": csrf, "digest": one.digest}).status_code == 403
    assert current(ui, name) == two.digest


def test_a_pull_only_viewer_sees_no_actors(ui: UiWorld, viewer: httpx.Client) -> None:
    name, one, two = pushed_twice(ui, PRIVATE_ORG)
    token = ui.pull_token
    assert sign_in(viewer, token.id, token.secret).status_code == 303
    page = tag_page(viewer, name)
    assert not BY_RE.findall(page) and not RESTORE_LINK_RE.findall(page)
    path = f"/repo/{quote(name)}/-/tag/prod/restore?digest={quote(one.digest)}"
    assert viewer.get(path).status_code == 403
    # Signed out, the private repository is missing, its restore page too.
    with httpx.Client(base_url=ui.url, timeout=30) as anonymous:
        assert anonymous.get(path).status_code == 404
    assert current(ui, name) == two.digest


def test_a_digest_the_tag_never_had_is_missing(ui: UiWorld, viewer: httpx.Client) -> None:
    name, _, _ = pushed_twice(ui, PUBLIC_ORG)
    _, stranger, _ = pushed_twice(ui, PUBLIC_ORG)
    assert sign_in(viewer, "admin", ADMIN_PASSWORD).status_code == 303
    path = f"/repo/{quote(name)}/-/tag/prod/restore"
    assert viewer.get(f"{path}?digest={quote(stranger.digest)}").status_code == 404
    assert viewer.get(f"{path}?digest=nonsense").status_code == 404
    csrf = csrf_of(viewer.get("/login"))
    assert viewer.post(path, data={"csrf": csrf, "digest": stranger.digest}).status_code == 404
