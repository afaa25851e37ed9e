"""``GET /token`` (Docker token spec) and ``POST /token`` (OAuth2 form)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx
import pytest

from tests.api.helpers import assert_oci_error
from tests.auth.helpers import bearer, everything, post_token, pull, push, request_token
from tests.auth.jwts import access_of
from tests.auth.world import ADMIN, ALICE, BOB, EVE, World, unique
from tests.ssl_context import SHARED


def test_get_anonymous_answers_the_documented_fields(world: World) -> None:
    response = request_token(world.url, [pull(unique("open"))])
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"token", "access_token", "expires_in", "issued_at"}
    assert body["token"] == body["access_token"]
    assert isinstance(body["expires_in"], int) and body["expires_in"] >= 60
    issued = datetime.fromisoformat(body["issued_at"].replace("Z", "+00:00"))
    assert abs(issued.timestamp() - time.time()) < 30
    assert issued.tzinfo is not None and issued.utcoffset() == UTC.utcoffset(None)
    assert response.headers["cache-control"] == "no-store"


def test_get_accepts_account_client_id_and_offline_token(world: World) -> None:
    response = request_token(
        world.url,
        [pull("acme/x")],
        ALICE,
        account="alice",
        client_id="docker",
        offline_token="true",
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"token", "access_token", "expires_in", "issued_at", "refresh_token"}
    assert access_of(body["token"]) == {("repository", "acme/x"): {"pull"}}
    anonymous = request_token(world.url, [], None, offline_token="true", client_id="docker")
    assert anonymous.status_code == 200, anonymous.text
    assert "refresh_token" not in anonymous.json()
    online = request_token(world.url, [], ALICE, offline_token="false")
    assert "refresh_token" not in online.json()


@pytest.mark.parametrize(
    "credentials",
    [("alice", "wrong"), ("nobody", "secret"), ("alice", ""), ("ttp_0123456789abcdef", "ttp_x")],
)
def test_wrong_credentials_are_refused_never_anonymous(
    world: World, credentials: tuple[str, str]
) -> None:
    response = request_token(world.url, [pull("open/anything")], credentials)
    assert_oci_error(response, 401, "UNAUTHORIZED")
    assert "token" not in response.text


@pytest.mark.parametrize("header", ["Basic !!!", "Basic " + "YWxpY2U=", "Basic"])
def test_malformed_basic_is_refused(world: World, header: str) -> None:
    response = httpx.get(
        f"{world.url}/token", headers={"Authorization": header}, timeout=30, verify=SHARED
    )
    assert_oci_error(response, 401, "UNAUTHORIZED")


def test_scopes_repeat_and_separate_by_spaces(world: World) -> None:
    a, b, c = unique("acme"), unique("acme"), unique("acme")
    scopes = [pull(a), f"repository:{b}:push repository:{c}:pull,push", f"repository:{a}:push"]
    access = access_of(world.token(scopes, ADMIN))
    assert access == {
        ("repository", a): {"pull", "push"},
        ("repository", b): {"push"},
        ("repository", c): {"pull", "push"},
    }


def test_grant_is_the_intersection_and_partial_access_is_no_error(world: World) -> None:
    mine, theirs = unique("acme"), unique("peer")
    asked = [f"repository:{mine}:pull,push,delete", everything(theirs), "registry:catalog:*"]
    access = access_of(world.token(asked, ALICE))
    assert access == {("repository", mine): {"pull", "push"}, ("registry", "catalog"): {"*"}}
    assert access_of(world.token([f"repository:{mine}:*"], BOB)) == {("repository", mine): {"pull"}}
    assert access_of(world.token([everything(mine)], EVE)) == {}
    assert access_of(world.token([push("acme/public-all")], None)) == {
        ("repository", "acme/public-all"): {"pull"}
    }


_EMPTY = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_star_grants_all_the_caller_may_do(world: World) -> None:
    name = unique("acme")
    with world.admin_client(name) as http:
        http.post(f"/v2/{name}/blobs/uploads/", params={"digest": _EMPTY}, content=b"")
    token = world.token([f"repository:{name}:*"], ADMIN)
    actions = access_of(token)[("repository", name)]
    assert actions == {"*"} or actions >= {"pull", "push", "delete"}, actions
    response = httpx.delete(
        f"{world.url}/v2/{name}/blobs/{_EMPTY}", headers=bearer(token), verify=SHARED
    )
    assert response.status_code != 401, response.text


@pytest.mark.parametrize(
    "name", ["localhost:5000/acme/x", "127.0.0.1:5000/acme/x", "registry.example:443/acme/x"]
)
def test_names_with_host_and_port_parse_and_grant_nothing(world: World, name: str) -> None:
    response = request_token(world.url, [f"repository:{name}:pull,push", pull("acme/x")], ADMIN)
    assert response.status_code == 200, response.text
    assert access_of(response.json()["token"]) == {("repository", "acme/x"): {"pull"}}


def test_catalog_scope(world: World) -> None:
    access = access_of(world.token(["registry:catalog:*"]))
    assert access == {("registry", "catalog"): {"*"}}


@pytest.mark.parametrize("scope", ["garbage", "repository:acme/x", "repository::pull"])
def test_malformed_scope_is_a_client_error(world: World, scope: str) -> None:
    response = request_token(world.url, [scope], ALICE)
    assert 400 <= response.status_code < 500, response.text
    assert "token" not in response.json()


def test_post_password_grant(world: World) -> None:
    name = unique("acme")
    form = {"grant_type": "password", "username": "alice", "password": ALICE[1]}
    form |= {"service": "tagtrail", "client_id": "test", "scope": everything(name)}
    response = post_token(world.url, form)
    assert response.status_code == 200, response.text
    body = response.json()
    assert {"access_token", "scope", "expires_in"} <= set(body)
    assert "refresh_token" not in body
    assert body["scope"] == f"repository:{name}:pull,push"
    assert access_of(body["access_token"]) == {("repository", name): {"pull", "push"}}
    assert isinstance(body["expires_in"], int) and body["expires_in"] >= 60
    assert response.headers["cache-control"] == "no-store"


def test_post_offline_and_refresh_grant(world: World) -> None:
    name = unique("acme")
    form = {"grant_type": "password", "username": "bob", "password": BOB[1]}
    form |= {"access_type": "offline", "client_id": "test", "scope": pull(name)}
    first = post_token(world.url, form)
    assert first.status_code == 200, first.text
    refresh = first.json()["refresh_token"]
    again = {"grant_type": "refresh_token", "refresh_token": refresh, "client_id": "test"}
    second = post_token(world.url, again | {"scope": push(name), "service": "tagtrail"})
    assert second.status_code == 200, second.text
    body = second.json()
    assert body["scope"] == pull(name)  # bob may only pull, whatever the refresh asks
    assert access_of(body["access_token"]) == {("repository", name): {"pull"}}
    # A refresh token from GET /token?offline_token=true redeems the same way.
    got = request_token(world.url, [], BOB, offline_token="true").json()["refresh_token"]
    third = post_token(world.url, again | {"refresh_token": got, "scope": pull(name)})
    assert third.status_code == 200, third.text


@pytest.mark.parametrize(
    "form",
    [
        {"grant_type": "password", "username": "alice", "password": "wrong"},
        {"grant_type": "password", "username": "ghost", "password": "x"},
        {"grant_type": "refresh_token", "refresh_token": "not-a-token"},
        {"grant_type": "refresh_token", "refresh_token": ""},
    ],
)
def test_post_refuses_bad_credentials(world: World, form: dict[str, str]) -> None:
    assert_oci_error(post_token(world.url, form), 401, "UNAUTHORIZED")


def test_post_refuses_an_access_token_as_refresh_token(world: World) -> None:
    access = world.token([pull("acme/x")], ALICE)
    form = {"grant_type": "refresh_token", "refresh_token": access}
    assert_oci_error(post_token(world.url, form), 401, "UNAUTHORIZED")


def test_refresh_token_is_no_access_token(world: World) -> None:
    refresh = request_token(world.url, [], ADMIN, offline_token="true").json()["refresh_token"]
    response = httpx.get(f"{world.url}/v2/", headers=bearer(refresh), verify=SHARED)
    assert_oci_error(response, 401, "UNAUTHORIZED")
