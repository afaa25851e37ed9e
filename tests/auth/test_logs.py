"""No password, pull-token secret or issued token in the server's log.

This test sends every kind of credential itself, so it holds in any order and alone; what
the other tests of the package send is checked when the shared server stops (conftest.py).
"""

from __future__ import annotations

import base64

import httpx
import pytest

from tests.api.helpers import push_image
from tests.auth.helpers import (
    ADMIN_PASSWORD,
    assert_no_secret_logged,
    basic,
    bearer,
    post_token,
    pull,
    push,
    remember,
    request_token,
)
from tests.auth.world import ADMIN, ALICE, USERS, World, unique
from tests.ssl_context import SHARED


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
        httpx.get(
            f"{world.url}/v2/{name}/manifests/latest", headers=bearer(credential), verify=SHARED
        )
    for user, password in (ALICE, ("alice", wrong), (world.acme_pull.id, world.acme_pull.secret)):
        httpx.get(f"{world.url}/v2/{name}/tags/list", headers=basic(user, password), verify=SHARED)


def test_no_secret_in_the_server_log(world: World) -> None:
    _exercise(world)
    assert_no_secret_logged(world.server.log(), world.server.log_path)


def test_the_check_finds_each_kind_of_leak(world: World) -> None:
    """The check above is not blind: a secret, a token's signature or the admin's Basic
    credentials in the log each fail it."""
    log = world.server.log()
    token = world.token([pull(unique("acme"))], ALICE)
    basic_admin = base64.b64encode(ADMIN_PASSWORD.encode()).decode()
    for leak in (ALICE[1], f"bearer ...{token.rpartition('.')[2]}", basic_admin):
        with pytest.raises(AssertionError):
            assert_no_secret_logged(f"{log}\n{leak}\n", world.server.log_path)
