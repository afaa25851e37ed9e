"""Users (argon2 passwords) and pull tokens: rights, expiry, revocation, Basic and Bearer use."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import httpx

from tagtrail.accounts import PullTokenRecord
from tagtrail.auth.secrets import new_pull_token, secret_digest
from tagtrail.clock import now_ms
from tagtrail.meta.database import Database
from tagtrail.meta.sql_accounts import SqlAccountStore
from tests.api.helpers import assert_oci_error, push_image
from tests.auth.cli import PullToken, admin, create_pull_token, parse_pull_token, token_args
from tests.auth.helpers import (
    ADMIN_PASSWORD,
    assert_challenge,
    assert_denied,
    basic,
    bearer,
    post_token,
    pull,
    push,
    remember,
    request_token,
)
from tests.auth.jwts import access_of
from tests.auth.world import USERS, World, unique
from tests.ssl_context import SHARED


def test_passwords_are_stored_as_argon2id(world: World) -> None:
    with sqlite3.connect(world.data_dir / "tagtrail.db") as db:
        rows = dict(db.execute("SELECT name, password_hash FROM users").fetchall())
    assert set(rows) >= {"admin", *(name for name, _ in USERS)}
    for name, password in (("admin", ADMIN_PASSWORD), *USERS):
        assert rows[name].startswith("$argon2id$"), rows[name]
        assert password not in rows[name]
    assert len(set(rows.values())) == len(rows)  # salted


def _image(world: World) -> tuple[str, str]:
    name = unique("acme")
    with world.admin_client(name) as http:
        return name, push_image(http, name, "latest").digest


def _as_basic(token: PullToken) -> tuple[str, str]:
    return token.id, token.secret


def test_pull_only_token(world: World) -> None:
    name, digest = _image(world)
    token = world.acme_pull
    granted = world.token([push(name), pull("peer/x")], _as_basic(token))
    assert access_of(granted) == {("repository", name): {"pull"}}
    for credential in (granted, token.secret):
        with world.client(credential) as http:
            assert http.get(f"/v2/{name}/manifests/latest").status_code == 200
            assert http.get(f"/v2/{name}/manifests/{digest}").status_code == 200
            response = http.post(f"/v2/{name}/blobs/uploads/")
            assert_denied(response, f"push to {name} denied for pull token {token.id}")


def test_pull_and_push_token(world: World) -> None:
    name, _ = _image(world)
    token = world.acme_push
    granted = world.token([f"repository:{name}:pull,push,delete"], _as_basic(token))
    assert access_of(granted) == {("repository", name): {"pull", "push"}}
    for credential in (granted, token.secret):
        with world.client(credential) as http:
            pushed = push_image(http, name, "from-token")
            assert http.get(f"/v2/{name}/manifests/from-token").content == pushed.body
            response = http.delete(f"/v2/{name}/manifests/{pushed.digest}")
            assert_denied(response, f"delete in {name} denied for pull token {token.id}")


def test_token_of_one_organisation_grants_nothing_in_another(world: World) -> None:
    name, _ = _image(world)
    granted = world.token([pull(name)], _as_basic(world.peer_pull))
    assert access_of(granted) == {}
    with world.client(world.peer_pull.secret) as http:
        response = http.get(f"/v2/{name}/manifests/latest")
        assert_challenge(response, world.url, [pull(name)], insufficient=True)


async def _add_expired_token(data_dir: Path, organisation: str) -> PullToken:
    """A pull token created an hour ago that expired a minute ago, in the server's database
    (test_expiry.py moves the policy's clock across an expiry instead)."""
    database = await Database.open(f"sqlite:///{data_dir / 'tagtrail.db'}", migrate=False)
    try:
        token_id, secret = new_pull_token()
        await SqlAccountStore(database).add_pull_token(
            PullTokenRecord(
                id=token_id,
                organisation=organisation,
                secret_sha256=secret_digest(secret),
                can_push=False,
                expires_ms=now_ms() - 60_000,
                revoked_ms=None,
                description="",
                created_ms=now_ms() - 3_600_000,
            )
        )
    finally:
        await database.close()
    remember(secret)
    return PullToken(token_id, secret)


def test_token_expires(world: World) -> None:
    name, _ = _image(world)
    token = asyncio.run(_add_expired_token(world.data_dir, "acme"))
    assert_oci_error(request_token(world.url, [pull(name)], _as_basic(token)), 401)
    with world.client(token.secret) as http:
        assert_oci_error(http.get(f"/v2/{name}/manifests/latest"), 401, "UNAUTHORIZED")
        assert_oci_error(http.get("/v2/"), 401, "UNAUTHORIZED")
    assert "expired" in _listed(world, token)


def _listed(world: World, token: PullToken) -> str:
    listing = admin(world.data_dir, "token", "list")
    assert token.secret not in listing
    lines = [line for line in listing.splitlines() if line.startswith(token.id)]
    assert len(lines) == 1, listing
    return lines[0]


def test_revoking_a_token_revokes_its_refresh_tokens(world: World) -> None:
    name, _ = _image(world)
    token = parse_pull_token(admin(world.data_dir, *token_args("acme", push=True)))
    credentials = _as_basic(token)
    from_get = request_token(world.url, [pull(name)], credentials, offline_token="true")
    form = {"grant_type": "password", "username": token.id, "password": token.secret}
    from_post = post_token(world.url, form | {"access_type": "offline", "scope": pull(name)})
    refreshes = [from_get.json()["refresh_token"], from_post.json()["refresh_token"]]
    for refresh in refreshes:
        redeemed = post_token(world.url, _refresh(refresh, name))
        assert redeemed.status_code == 200, redeemed.text
        assert access_of(redeemed.json()["access_token"]) == {("repository", name): {"pull"}}
    assert "valid" in _listed(world, token)
    as_basic = basic(*credentials)
    # Used as Basic on /v2 before the revocation: nothing of that may outlive it.
    assert (
        httpx.get(f"{world.url}/v2/{name}/tags/list", headers=as_basic, verify=SHARED).status_code
        == 200
    )

    admin(world.data_dir, "token", "revoke", token.id)

    assert "revoked" in _listed(world, token)
    assert_oci_error(request_token(world.url, [pull(name)], credentials), 401, "UNAUTHORIZED")
    assert_oci_error(post_token(world.url, form | {"scope": pull(name)}), 401, "UNAUTHORIZED")
    for refresh in refreshes:
        assert_oci_error(post_token(world.url, _refresh(refresh, name)), 401, "UNAUTHORIZED")
    assert_oci_error(
        httpx.get(f"{world.url}/v2/{name}/tags/list", headers=as_basic, verify=SHARED), 401
    )
    with world.client(token.secret) as http:
        assert_oci_error(http.get("/v2/"), 401, "UNAUTHORIZED")
        response = http.get(f"/v2/{name}/manifests/latest")
        assert_challenge(response, world.url, [pull(name)], insufficient=None)
        assert_oci_error(http.post(f"/v2/{name}/blobs/uploads/"), 401, "UNAUTHORIZED")


def _refresh(refresh: str, name: str) -> dict[str, str]:
    return {"grant_type": "refresh_token", "refresh_token": refresh, "scope": pull(name)}


def test_revoking_leaves_other_tokens_alone(world: World) -> None:
    name, _ = _image(world)
    doomed = create_pull_token(world.data_dir, "acme")
    admin(world.data_dir, "token", "revoke", doomed.id)
    response = httpx.get(
        f"{world.url}/v2/{name}/tags/list", headers=bearer(world.acme_pull.secret), verify=SHARED
    )
    assert response.status_code == 200, response.text
