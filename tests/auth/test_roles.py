"""Organisations own the first path component; member roles pull, push and admin."""

from __future__ import annotations

from tests.api.helpers import push_image
from tests.auth.helpers import assert_challenge, assert_denied, everything, pull
from tests.auth.jwts import access_of
from tests.auth.world import ALICE, BOB, CAROL, DAVE, EVE, World, unique


def test_roles_grant_pull_push_and_delete(world: World) -> None:
    name = unique("acme")
    with world.admin_client(name) as http:
        push_image(http, name, "latest")
    asked = [everything(name)]
    assert access_of(world.token(asked, BOB)) == {("repository", name): {"pull"}}
    assert access_of(world.token(asked, ALICE)) == {("repository", name): {"pull", "push"}}
    assert access_of(world.token(asked, DAVE)) == {("repository", name): {"pull", "push", "delete"}}
    for outsider in (EVE, CAROL, None):
        assert access_of(world.token(asked, outsider)) == {}


def test_pull_role_pulls_but_cannot_push(world: World) -> None:
    name = unique("acme")
    with world.admin_client(name) as http:
        image = push_image(http, name, "latest")
    with world.client(world.token([everything(name)], BOB)) as http:
        assert http.get(f"/v2/{name}/manifests/latest").content == image.body
        response = http.put(f"/v2/{name}/manifests/again", content=image.body)
        assert_denied(response, f"push to {name} denied for user bob")


def test_push_role_pushes_but_cannot_delete(world: World) -> None:
    name = unique("acme")
    with world.client(world.token([everything(name)], ALICE)) as http:
        image = push_image(http, name, "latest")
        response = http.delete(f"/v2/{name}/manifests/{image.digest}")
        assert_denied(response, f"delete in {name} denied for user alice")
        assert http.get(f"/v2/{name}/manifests/latest").status_code == 200


def test_admin_role_deletes(world: World) -> None:
    name = unique("acme")
    with world.client(world.token([everything(name)], DAVE)) as http:
        image = push_image(http, name, "latest")
        assert http.delete(f"/v2/{name}/manifests/{image.digest}").status_code == 202
        assert http.get(f"/v2/{name}/manifests/{image.digest}").status_code == 404


def test_membership_is_per_organisation(world: World) -> None:
    ours, theirs = unique("peer"), unique("acme")
    with world.client(world.token([everything(ours), everything(theirs)], EVE)) as http:
        push_image(http, ours, "latest")
        response = http.post(f"/v2/{theirs}/blobs/uploads/")
        assert_challenge(response, world.url, [f"repository:{theirs}:push"], insufficient=True)
    # An organisation's name is the whole first component, not a prefix.
    assert access_of(world.token([pull("acmex/app"), pull("acm/app")], ALICE)) == {}
