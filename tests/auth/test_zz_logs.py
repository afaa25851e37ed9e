"""No password, pull-token secret or issued token in the server's log.

Named to run last: by then every other module of this package has used the shared server.
"""

from __future__ import annotations

import base64

import httpx

from tests.api.helpers import push_image
from tests.auth.helpers import (
    ADMIN_PASSWORD,
    SECRETS,
    basic,
    bearer,
    post_token,
    pull,
    push,
    remember,
    request_token,
)
from tests.auth.world import ADMIN, ALICE, USERS, World, unique


def _exercise(world: World) -> None:
    """Every way a credential reaches the server, right and wrong, in case this runs alone."""
    name = unique("acme")
    wrong = "wrong-" + ADMIN_PASSWORD[::-1]
    remember(wrong)
    for credentials in (
        *USERS,
        ADMIN,
        ("alice", wrong),
        (world.acme_pull.id, world.acme_pull.secret),
    ):
        request_token(world.url, [push(name)], credentials, offline_token="true")
    form = {"grant_type": "password", "username": "alice", "password": ALICE[1]}
    refresh = post_token(world.url, form | {"access_type": "offline"}).json()["refresh_token"]
    post_token(world.url, {"grant_type": "refresh_token", "refresh_token": refresh})
    post_token(world.url, form | {"password": wrong})
    with world.admin_client(name) as http:
        push_image(http, name, "latest")
    for credential in (world.acme_push.secret, world.token([pull(name)], ALICE), wrong):
        httpx.get(f"{world.url}/v2/{name}/manifests/latest", headers=bearer(credential))
    for user, password in (ALICE, ("alice", wrong), (world.acme_pull.id, world.acme_pull.secret)):
        httpx.get(f"{world.url}/v2/{name}/tags/list", headers=basic(user, password))


def test_no_secret_in_the_server_log(world: World) -> None:
    _exercise(world)
    log = world.server.log()
    assert "listening" in log  # the right file
    leaked = sorted(secret for secret in SECRETS if secret in log)
    assert not leaked, f"{len(leaked)} secrets in {world.server.log_path}: {leaked[:3]}"
    for secret in SECRETS:  # nor any recognisable part of a token (its signature)
        signature = secret.rpartition(".")[2]
        assert len(signature) < 20 or signature not in log
    assert base64.b64encode(ADMIN_PASSWORD.encode()).decode() not in log
