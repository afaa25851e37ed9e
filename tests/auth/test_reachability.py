"""Content is reachable only through repositories the caller may pull; the catalog too."""

from __future__ import annotations

import httpx

from tests.api.helpers import assert_oci_error, next_link, push_image
from tests.auth.helpers import assert_challenge, everything, pull, push
from tests.auth.world import ADMIN, ALICE, EVE, PUBLIC_ALL, PUBLIC_TAGS, World, blobs_of, unique


def _mount(http: httpx.Client, target: str, digest: str, source: str) -> httpx.Response:
    return http.post(f"/v2/{target}/blobs/uploads/", params={"mount": digest, "from": source})


def test_foreign_content_is_not_readable_through_ones_own_repository(world: World) -> None:
    secret, mine = unique("acme"), unique("peer")
    with world.admin_client(secret) as http:
        image = push_image(http, secret, "latest")
    with world.client(world.token([everything(mine), pull(secret)], EVE)) as http:
        push_image(http, mine, "latest")
        for digest in blobs_of(image):
            assert_oci_error(http.get(f"/v2/{mine}/blobs/{digest}"), 404, "BLOB_UNKNOWN")
            assert http.head(f"/v2/{mine}/blobs/{digest}").status_code == 404
        response = http.get(f"/v2/{mine}/manifests/{image.digest}")
        assert_oci_error(response, 404, "MANIFEST_UNKNOWN")


def test_mount_from_a_repository_the_caller_cannot_pull_is_an_upload(world: World) -> None:
    secret, mine = unique("acme"), unique("peer")
    with world.admin_client(secret) as http:
        image = push_image(http, secret, "latest")
    with world.client(world.token([push(mine), pull(secret)], EVE)) as http:
        push_image(http, mine, "latest")
        for digest in blobs_of(image):
            response = _mount(http, mine, digest, secret)
            assert response.status_code == 202, response.text
            assert response.headers["location"]
            assert http.get(f"/v2/{mine}/blobs/{digest}").status_code == 404


def test_mount_from_a_pullable_repository(world: World) -> None:
    source, target = unique("acme"), unique("acme")
    with world.admin_client(source) as http:
        image = push_image(http, source, "latest")
    with world.client(world.token([push(target), pull(source)], ALICE)) as http:
        digest = blobs_of(image)[0]
        response = _mount(http, target, digest, source)
        assert response.status_code == 201, response.text
        assert response.headers["docker-content-digest"] == digest


def test_mount_from_public_content(world: World) -> None:
    mine = unique("peer")
    tagged = world.tags_repo
    public_blob, private_blob = blobs_of(tagged.latest)[1], blobs_of(tagged.stable)[1]
    with world.admin_client(PUBLIC_ALL) as http:
        listed = http.get(f"/v2/{PUBLIC_ALL}/manifests/latest").json()
    scopes = [push(mine), pull(PUBLIC_TAGS), pull(PUBLIC_ALL)]
    with world.client(world.token(scopes, EVE)) as http:
        push_image(http, mine, "latest")
        response = _mount(http, mine, listed["config"]["digest"], PUBLIC_ALL)
        assert response.status_code == 201, response.text
        assert _mount(http, mine, public_blob, PUBLIC_TAGS).status_code == 201
        response = _mount(http, mine, private_blob, PUBLIC_TAGS)
        assert response.status_code == 202, response.text
        assert http.get(f"/v2/{mine}/blobs/{private_blob}").status_code == 404


def _catalog(world: World, credentials: tuple[str, str] | None) -> list[str]:
    token = world.token(["registry:catalog:*"], credentials)
    with world.client(token) as http:
        response = http.get("/v2/_catalog")
        assert response.status_code == 200, response.text
        names: list[str] = response.json()["repositories"]
        paged: list[str] = []
        url: str | None = "/v2/_catalog?n=3"
        while url is not None:  # the pages hold the same names, and only those
            page = http.get(url)
            assert page.status_code == 200, page.text
            paged += page.json()["repositories"]
            url = next_link(page)
        assert paged == names
        return names


def test_catalog_lists_only_what_the_caller_can_see(world: World) -> None:
    acme, peer, public = unique("acme"), unique("peer"), unique("open")
    with world.admin_client(acme, peer, public) as http:
        for name in (acme, peer, public):
            push_image(http, name, "latest")
    everyone = {PUBLIC_ALL, PUBLIC_TAGS, public}
    seen = {
        "admin": set(_catalog(world, ADMIN)),
        "alice": set(_catalog(world, ALICE)),
        "eve": set(_catalog(world, EVE)),
        "anonymous": set(_catalog(world, None)),
    }
    assert seen["admin"] >= everyone | {acme, peer}
    assert seen["alice"] >= everyone | {acme}
    assert seen["eve"] >= everyone | {peer}
    assert seen["anonymous"] >= everyone
    assert acme not in seen["eve"] | seen["anonymous"]
    assert peer not in seen["alice"] | seen["anonymous"]
    assert not {n for n in seen["anonymous"] if n.startswith("peer/")}
    # Other tests of this package share the world (in any order, under xdist) and may have made
    # more of acme's repositories public since: whatever of acme's is listed must be pullable
    # by the one it is listed to (the account's grant is what the catalog obeys).
    for who, credentials in (("anonymous", None), ("eve", EVE)):
        for name in sorted(n for n in seen[who] if n.startswith("acme/")):
            token = world.token([pull(name)], credentials)
            with world.client(token) as http:
                listed = http.get(f"/v2/{name}/tags/list")
                assert listed.status_code == 200, (who, name, listed.text)


def test_catalog_needs_the_catalog_scope(world: World) -> None:
    with world.client(world.token([pull(PUBLIC_ALL)], ADMIN)) as http:
        response = http.get("/v2/_catalog")
        assert_challenge(response, world.url, ["registry:catalog:*"], insufficient=True)
