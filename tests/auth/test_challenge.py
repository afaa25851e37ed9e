"""401 answers: the Bearer challenge names the token endpoint, the service and every scope."""

from __future__ import annotations

import httpx
import pytest

from tests.api.helpers import random_bytes, sha256
from tests.auth.helpers import assert_challenge, bearer, pull
from tests.auth.world import ALICE, DAVE, World, unique
from tests.ssl_context import SHARED

DIGEST = sha256(b"challenge")
UPLOAD = "0f6c3a3e-54f5-4cc1-9e0b-8d53c1c9a9b2"

# (method, path under /v2/<name>, action the request needs)
ENDPOINTS = [
    ("GET", "/manifests/latest", "pull"),
    ("HEAD", "/manifests/latest", "pull"),
    ("GET", f"/manifests/{DIGEST}", "pull"),
    ("GET", f"/blobs/{DIGEST}", "pull"),
    ("HEAD", f"/blobs/{DIGEST}", "pull"),
    ("GET", "/tags/list", "pull"),
    ("GET", f"/referrers/{DIGEST}", "pull"),
    ("GET", "/_chainguard/history/latest", "pull"),
    ("GET", "/_oci/tag-history/latest", "pull"),
    ("PUT", "/manifests/latest", "push"),
    ("POST", "/blobs/uploads/", "push"),
    ("POST", f"/blobs/uploads/?digest={DIGEST}", "push"),
    ("GET", f"/blobs/uploads/{UPLOAD}", "push"),
    ("PATCH", f"/blobs/uploads/{UPLOAD}", "push"),
    ("PUT", f"/blobs/uploads/{UPLOAD}?digest={DIGEST}", "push"),
    ("DELETE", f"/blobs/uploads/{UPLOAD}", "push"),
    ("DELETE", f"/manifests/{DIGEST}", "delete"),
    ("DELETE", f"/blobs/{DIGEST}", "delete"),
]
IDS = [f"{method} {path}" for method, path, _ in ENDPOINTS]


def send(world: World, method: str, path: str, token: str | None = None) -> httpx.Response:
    headers = bearer(token) if token else {}
    return httpx.request(
        method, world.url + path, headers=headers, content=b"{}", timeout=30, verify=SHARED
    )


def test_base_without_credentials_is_challenged_without_scope(world: World) -> None:
    response = send(world, "GET", "/v2/")
    params = assert_challenge(response, world.url, None, insufficient=False)
    assert set(params) == {"realm", "service"}
    assert response.headers["www-authenticate"] == (
        f'Bearer realm="{world.url}/token",service="tagtrail"'
    )


def test_base_answers_any_valid_token(world: World) -> None:
    for token in (
        world.token([]),  # anonymous, no scope
        world.token([pull("acme/whatever")], ALICE),
        world.acme_pull.secret,  # a pull token's secret, used directly
    ):
        response = send(world, "GET", "/v2/", token)
        assert response.status_code == 200, response.text
    assert_challenge(send(world, "GET", "/v2/", "not-a-token"), world.url, None, insufficient=None)


@pytest.mark.parametrize(("method", "path", "action"), ENDPOINTS, ids=IDS)
def test_without_token_the_challenge_names_the_scope(
    world: World, method: str, path: str, action: str
) -> None:
    for name in (unique("acme"), unique("nothere"), "acme/public-all"):
        response = send(world, method, f"/v2/{name}{path}")
        assert_challenge(response, world.url, [f"repository:{name}:{action}"], insufficient=False)


@pytest.mark.parametrize(("method", "path", "action"), ENDPOINTS, ids=IDS)
def test_token_without_the_scope_is_insufficient(
    world: World, method: str, path: str, action: str
) -> None:
    name = unique("acme")
    anonymous = world.token([])
    # dave (admin of acme) may get every action on a new token: the token is short, not he.
    other_repository = world.token([f"repository:{unique('acme')}:pull,push,delete"], DAVE)
    for token in (anonymous, other_repository):
        response = send(world, method, f"/v2/{name}{path}", token)
        assert_challenge(response, world.url, [f"repository:{name}:{action}"], insufficient=True)


def test_catalog_challenge(world: World) -> None:
    response = send(world, "GET", "/v2/_catalog")
    assert_challenge(response, world.url, ["registry:catalog:*"], insufficient=False)
    response = send(world, "GET", "/v2/_catalog", world.token([pull("acme/x")], ALICE))
    assert_challenge(response, world.url, ["registry:catalog:*"], insufficient=True)


def test_mount_challenge_names_push_on_target_and_pull_on_source(world: World) -> None:
    target, source = unique("acme"), unique("peer")
    digest = sha256(random_bytes())
    path = f"/v2/{target}/blobs/uploads/?mount={digest}&from={source}"
    wanted = [f"repository:{target}:push", f"repository:{source}:pull"]
    assert_challenge(send(world, "POST", path), world.url, wanted, insufficient=False)
    response = send(world, "POST", path, world.token([]))
    assert_challenge(response, world.url, wanted, insufficient=True)
