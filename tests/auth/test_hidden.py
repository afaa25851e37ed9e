"""A private repository answers exactly as a missing one to anyone without access."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.api.helpers import push_image
from tests.auth.helpers import basic, bearer, pull
from tests.auth.jwts import access_of
from tests.auth.world import CAROL, EVE, World, blobs_of, unique

Snapshot = tuple[int, list[tuple[str, str]], bytes]
# A caller: name -> the Authorization headers it sends for that repository.
Caller = Callable[[World, str], dict[str, str]]

CALLERS: dict[str, Caller] = {
    "no credentials": lambda world, name: {},
    "anonymous token": lambda world, name: bearer(world.token([pull(name)])),
    "other-org user": lambda world, name: bearer(world.token([pull(name)], EVE)),
    "user of no org": lambda world, name: bearer(world.token([pull(name)], CAROL)),
    "other-org pull token": lambda world, name: bearer(world.peer_pull.secret),
    # Known callers who are denied a push or delete elsewhere get 403; here, where they may
    # not even pull, the answer must stay that of a missing repository.
    "other-org user, Basic": lambda world, name: basic(*EVE),
    "user of no org, Basic": lambda world, name: basic(*CAROL),
    "other-org pull token, Basic": lambda world, name: basic(
        world.peer_pull.id, world.peer_pull.secret
    ),
}


def _snapshot(response: httpx.Response, name: str) -> Snapshot:
    """Everything but Date and X-Request-Id (each request's own), with the repository name
    replaced (the names are equally long)."""
    headers = sorted(
        (key.lower(), value.replace(name, "<name>"))
        for key, value in response.headers.multi_items()
        if key.lower() not in ("date", "x-request-id")
    )
    return response.status_code, headers, response.content.replace(name.encode(), b"<name>")


@pytest.fixture(scope="module")
def hidden(world: World) -> tuple[str, list[tuple[str, str]]]:
    """A private repository with an image, and the requests to compare."""
    name = unique("acme", "hidden")
    with world.admin_client(name) as http:
        image = push_image(http, name, "latest")
    config = blobs_of(image)[0]
    requests = [
        ("GET", "/manifests/latest"),
        ("HEAD", "/manifests/latest"),
        ("GET", f"/manifests/{image.digest}"),
        ("HEAD", f"/manifests/{image.digest}"),
        ("GET", f"/blobs/{config}"),
        ("HEAD", f"/blobs/{config}"),
        ("GET", "/tags/list"),
        ("GET", "/tags/list?n=10"),
        ("GET", "/_chainguard/history/latest"),
        ("GET", "/_oci/tag-history/latest"),
        ("GET", f"/referrers/{image.digest}"),
        ("POST", "/blobs/uploads/"),
        ("PUT", "/manifests/other"),
        ("DELETE", f"/manifests/{image.digest}"),
        ("DELETE", f"/blobs/{config}"),
    ]
    return name, requests


@pytest.mark.parametrize("caller", CALLERS, ids=list(CALLERS))
def test_private_is_indistinguishable_from_missing(
    world: World, hidden: tuple[str, list[tuple[str, str]]], caller: str
) -> None:
    private, requests = hidden
    missing = [unique("acme", "hidden"), unique("zzzz", "hidden"), unique("open", "hidden")]
    assert {len(name) for name in missing} == {len(private)}
    headers = {name: CALLERS[caller](world, name) for name in (private, *missing)}
    with world.client() as http:
        for method, path in requests:
            snapshots = {}
            for name in (private, *missing):
                response = http.request(method, f"/v2/{name}{path}", headers=headers[name])
                snapshots[name] = _snapshot(response, name)
            expected = snapshots[private]
            assert expected[0] == 401, expected
            for name in missing:
                assert snapshots[name] == expected, f"{method} {path}: {name} vs {private}"


def test_token_endpoint_grants_the_same_for_private_and_missing(
    world: World, hidden: tuple[str, list[tuple[str, str]]]
) -> None:
    private, _ = hidden
    names = [private, unique("acme"), unique("zzzz"), unique("open")]
    for credentials in (None, EVE, CAROL):
        for name in names:
            assert access_of(world.token([pull(name)], credentials)) == {}
        assert access_of(world.token([pull(name) for name in names], credentials)) == {}
