"""403 DENIED or 401: a caller the registry knows, refused by the accounts, gets 403 naming
the action; 401 (with ``insufficient_scope`` for a token) where logging in or a new token
could help, and wherever the caller may not even pull (tests/auth/test_hidden.py)."""

from __future__ import annotations

import uuid

import httpx

from tests.api.helpers import assert_oci_error, push_image
from tests.auth.cli import add_user, admin
from tests.auth.helpers import (
    assert_challenge,
    assert_denied,
    basic,
    bearer,
    everything,
    pull,
    push,
)
from tests.auth.world import (
    ALICE,
    BOB,
    CAROL,
    EVE,
    PUBLIC_ALL,
    PUBLIC_TAGS,
    World,
    blobs_of,
    unique,
)
from tests.ssl_context import SHARED


def _pushed(world: World) -> tuple[str, str]:
    name = unique("acme")
    with world.admin_client(name) as http:
        return name, push_image(http, name, "latest").digest


def test_basic_user_denied_a_push_gets_403_naming_it(world: World) -> None:
    name, digest = _pushed(world)
    with httpx.Client(base_url=world.url, headers=basic(*BOB), timeout=30, verify=SHARED) as http:
        assert http.get(f"/v2/{name}/manifests/latest").status_code == 200
        error = assert_denied(
            http.post(f"/v2/{name}/blobs/uploads/"), f"push to {name} denied for user bob"
        )
        assert error["detail"] == {"repository": name, "denied": ["push"]}
        assert_denied(
            http.put(f"/v2/{name}/manifests/other", content=b"{}"),
            f"push to {name} denied for user bob",
        )
        assert_denied(
            http.delete(f"/v2/{name}/manifests/{digest}"), f"delete in {name} denied for user bob"
        )


def test_a_token_granted_less_than_asked_gets_403(world: World) -> None:
    """bob asked for push and got pull only, or asked for pull only: either way the token
    service would not grant push, so no new token helps."""
    name, _ = _pushed(world)
    for asked in ([everything(name)], [pull(name)]):
        with world.client(world.token(asked, BOB)) as http:
            response = http.post(f"/v2/{name}/blobs/uploads/")
            assert_denied(response, f"push to {name} denied for user bob")


def test_a_token_short_of_what_its_user_may_get_is_insufficient(world: World) -> None:
    name, _ = _pushed(world)
    with world.client(world.token([pull(name)], ALICE)) as http:
        response = http.post(f"/v2/{name}/blobs/uploads/")
        assert_challenge(response, world.url, [push(name)], insufficient=True)
    with world.client(world.token([push(name)], ALICE)) as http:
        assert http.post(f"/v2/{name}/blobs/uploads/").status_code == 202


def test_a_right_given_after_the_token_makes_it_insufficient_not_denied(world: World) -> None:
    """carol's token was issued before she joined: what it lacks, a new one would carry."""
    org = "c" + uuid.uuid4().hex[:7]
    admin(world.data_dir, "org", "create", org)
    name = f"{org}/app"
    token = world.token([push(name)], CAROL)
    with world.client(token) as http:
        assert_challenge(
            http.post(f"/v2/{name}/blobs/uploads/"), world.url, [push(name)], insufficient=True
        )
    admin(world.data_dir, "org", "member", "add", org, "carol", "--role", "pull")
    with world.client(token) as http:
        # Now carol may pull: the same request names what she is denied.
        assert_denied(
            http.post(f"/v2/{name}/blobs/uploads/"), f"push to {name} denied for user carol"
        )
        response = http.get(f"/v2/{name}/tags/list")
        assert_challenge(response, world.url, [pull(name)], insufficient=True)
    admin(world.data_dir, "org", "member", "add", org, "carol", "--role", "push")
    with world.client(token) as http:
        response = http.post(f"/v2/{name}/blobs/uploads/")
        assert_challenge(response, world.url, [push(name)], insufficient=True)
    with world.client(world.token([push(name)], CAROL)) as http:
        assert http.post(f"/v2/{name}/blobs/uploads/").status_code == 202


def test_pull_token_denied_a_push_gets_403_naming_it(world: World) -> None:
    name, _ = _pushed(world)
    token = world.acme_pull
    message = f"push to {name} denied for pull token {token.id}"
    as_basic = (token.id, token.secret)
    for headers in (
        bearer(token.secret),
        basic(*as_basic),
        bearer(world.token([push(name)], as_basic)),
    ):
        response = httpx.post(
            f"{world.url}/v2/{name}/blobs/uploads/", headers=headers, verify=SHARED
        )
        assert_denied(response, message)


def test_public_repository_denies_known_outsiders_and_challenges_anonymous(world: World) -> None:
    with world.client(world.token([push(PUBLIC_ALL)], EVE)) as http:
        assert http.get(f"/v2/{PUBLIC_ALL}/manifests/latest").status_code == 200
        response = http.post(f"/v2/{PUBLIC_ALL}/blobs/uploads/")
        assert_denied(response, f"push to {PUBLIC_ALL} denied for user eve")
    with world.client(world.token([push(PUBLIC_ALL)])) as http:
        response = http.post(f"/v2/{PUBLIC_ALL}/blobs/uploads/")
        assert_challenge(response, world.url, [push(PUBLIC_ALL)], insufficient=True)
    response = httpx.post(f"{world.url}/v2/{PUBLIC_ALL}/blobs/uploads/", verify=SHARED)
    assert_challenge(response, world.url, [push(PUBLIC_ALL)], insufficient=False)


def test_wrong_basic_credentials_are_challenged_not_denied(world: World) -> None:
    name, _ = _pushed(world)
    response = httpx.post(
        f"{world.url}/v2/{name}/blobs/uploads/", headers=basic("bob", "wrong"), verify=SHARED
    )
    assert_challenge(response, world.url, [push(name)], insufficient=None)


def test_a_removed_users_token_is_challenged_not_denied(world: World) -> None:
    """Nobody to name: the account is gone, so the answer is that of a missing repository."""
    user = ("gone-" + uuid.uuid4().hex[:8], "pw-" + uuid.uuid4().hex)
    add_user(world.data_dir, *user)
    admin(world.data_dir, "org", "member", "add", "acme", user[0], "--role", "pull")
    name, _ = _pushed(world)
    token = world.token([pull(name)], user)
    with world.client(token) as http:
        assert_denied(
            http.post(f"/v2/{name}/blobs/uploads/"), f"push to {name} denied for user {user[0]}"
        )
    admin(world.data_dir, "user", "rm", user[0])
    with world.client(token) as http:
        response = http.post(f"/v2/{name}/blobs/uploads/")
        assert_challenge(response, world.url, [push(name)], insufficient=True)


def test_mount_from_a_source_denied_becomes_an_upload(world: World) -> None:
    """eve may pull acme/public-tags through its public tags only: a mount of a blob only a
    private tag reaches must neither mount nor be refused, but start an upload."""
    digest = blobs_of(world.tags_repo.stable_before)[0]
    target = unique("peer")
    with world.client(world.token([push(target), pull(PUBLIC_TAGS)], EVE)) as http:
        response = http.post(
            f"/v2/{target}/blobs/uploads/", params={"mount": digest, "from": PUBLIC_TAGS}
        )
        assert response.status_code == 202, response.text
        assert http.head(f"/v2/{target}/blobs/{digest}").status_code == 404
        assert_oci_error(http.get(f"/v2/{PUBLIC_TAGS}/blobs/{digest}"), 403, "DENIED")
