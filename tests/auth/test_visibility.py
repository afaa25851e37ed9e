"""Visibility: private (default), public, and public for some tags only."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest

from tests.api.helpers import OCI_MANIFEST, next_link, push_image
from tests.auth.cli import admin
from tests.auth.helpers import assert_challenge, assert_denied, pull, push
from tests.auth.jwts import access_of
from tests.auth.world import BOB, EVE, PUBLIC_ALL, PUBLIC_TAGS, World, blobs_of, unique

NAME = PUBLIC_TAGS


@dataclass(frozen=True)
class Outsider:
    """A Bearer credential that may pull ``acme/public-tags`` only through its public tags,
    and whom it names (None: anonymous, who might be let in by logging in)."""

    credential: str
    who: str | None


@pytest.fixture(params=["anonymous", "other-org user", "other-org pull token"])
def outsider(request: pytest.FixtureRequest, world: World) -> Outsider:
    if request.param == "anonymous":
        return Outsider(world.token([pull(NAME)]), None)
    if request.param == "other-org user":
        return Outsider(world.token([pull(NAME)], EVE), "user eve")
    return Outsider(world.peer_pull.secret, f"pull token {world.peer_pull.id}")


def _refused(world: World, outsider: Outsider, response: httpx.Response, reference: str) -> None:
    """Anonymous: 401, logging in might help. Someone known: 403, the accounts deny it."""
    if outsider.who is None:
        assert_challenge(response, world.url, [pull(NAME)], insufficient=True)
        return
    error = assert_denied(response, f"pull of {reference} from {NAME} denied for {outsider.who}")
    if response.request.method != "HEAD":
        assert error["detail"] == {
            "repository": NAME,
            "denied": ["pull"],
            "reason": "only the repository's public tags may be pulled",
            "reference": reference,
        }


def test_outsiders_get_pull_only(world: World) -> None:
    for credentials in (None, EVE):
        assert access_of(world.token([push(NAME)], credentials)) == {("repository", NAME): {"pull"}}


def test_public_tags_and_what_they_reach(world: World, outsider: Outsider) -> None:
    repo = world.tags_repo
    with world.client(outsider.credential) as http:
        assert http.get(f"/v2/{NAME}/manifests/latest").content == repo.latest.body
        assert http.head(f"/v2/{NAME}/manifests/latest").status_code == 200
        assert http.get(f"/v2/{NAME}/manifests/latest-dev").content == repo.dev_index.body
        for image in repo.public():
            response = http.get(f"/v2/{NAME}/manifests/{image.digest}")
            assert response.status_code == 200, (image.digest, response.text)
        for image in (repo.latest_before, repo.latest, *repo.dev_children):
            for digest in blobs_of(image):
                assert http.get(f"/v2/{NAME}/blobs/{digest}").status_code == 200, digest
                assert http.head(f"/v2/{NAME}/blobs/{digest}").status_code == 200, digest
        history = http.get(f"/v2/{NAME}/_chainguard/history/latest")
        assert history.status_code == 200, history.text
        moves = [record["digest"] for record in history.json()["history"]]
        assert moves == [repo.latest_before.digest, repo.latest.digest]
        for tag in ("latest", "latest-dev"):
            assert http.get(f"/v2/{NAME}/_oci/tag-history/{tag}").status_code == 200
        tags = http.get(f"/v2/{NAME}/tags/list")
        assert tags.status_code == 200, tags.text
        assert sorted(tags.json()["tags"]) == ["latest", "latest-dev"]


def test_nothing_else_of_a_public_tags_repository(world: World, outsider: Outsider) -> None:
    repo = world.tags_repo
    with world.client(outsider.credential) as http:
        for tag in ("stable", "latest-devel", "missing"):
            for path in ("manifests", "_chainguard/history", "_oci/tag-history"):
                _refused(world, outsider, http.get(f"/v2/{NAME}/{path}/{tag}"), tag)
            _refused(world, outsider, http.head(f"/v2/{NAME}/manifests/{tag}"), tag)
        for image in repo.private():
            found = http.get(f"/v2/{NAME}/manifests/{image.digest}")
            _refused(world, outsider, found, image.digest)
            for digest in blobs_of(image):
                _refused(world, outsider, http.get(f"/v2/{NAME}/blobs/{digest}"), digest)
                _refused(world, outsider, http.head(f"/v2/{NAME}/blobs/{digest}"), digest)


def test_members_see_every_tag(world: World) -> None:
    repo = world.tags_repo
    with world.client(world.token([pull(NAME)], BOB)) as http:
        tags = http.get(f"/v2/{NAME}/tags/list").json()["tags"]
        assert sorted(tags) == ["latest", "latest-dev", "latest-devel", "stable"]
        assert http.get(f"/v2/{NAME}/manifests/stable").content == repo.stable.body
        digest = blobs_of(repo.stable_before)[0]
        assert http.get(f"/v2/{NAME}/blobs/{digest}").status_code == 200


def test_public_repository_in_a_private_organisation(world: World) -> None:
    with world.client(world.token([push(PUBLIC_ALL)])) as http:
        assert sorted(http.get(f"/v2/{PUBLIC_ALL}/tags/list").json()["tags"]) == [
            "latest",
            "other",
        ]
        for tag in ("latest", "other"):
            manifest = http.get(f"/v2/{PUBLIC_ALL}/manifests/{tag}")
            assert manifest.status_code == 200
            assert http.get(f"/v2/{PUBLIC_ALL}/_oci/tag-history/{tag}").status_code == 200
        response = http.post(f"/v2/{PUBLIC_ALL}/blobs/uploads/")
        assert_challenge(response, world.url, [f"repository:{PUBLIC_ALL}:push"], insufficient=True)


def test_organisation_visibility_is_the_default_of_its_repositories(world: World) -> None:
    admin(world.data_dir, "org", "create", "tagz", "--visibility", "public-tags=latest,latest-dev")
    public, tagged, private = unique("open"), unique("tagz"), unique("tagz")
    admin(world.data_dir, "repo", "visibility", private, "private")
    with world.admin_client(public, tagged, private) as http:
        images = {name: push_image(http, name, "latest") for name in (public, tagged, private)}
        push_image(http, tagged, "edge")
    with world.client(world.token([pull(public), pull(tagged), pull(private)])) as http:
        assert http.get(f"/v2/{public}/manifests/latest").content == images[public].body
        assert http.get(f"/v2/{tagged}/manifests/latest").content == images[tagged].body
        assert http.get(f"/v2/{tagged}/tags/list").json()["tags"] == ["latest"]
        response = http.get(f"/v2/{tagged}/manifests/edge")
        assert_challenge(response, world.url, [pull(tagged)], insufficient=True)
        response = http.get(f"/v2/{private}/manifests/latest")
        assert_challenge(response, world.url, [pull(private)], insufficient=True)


def test_paging_public_tags_skips_the_others(world: World) -> None:
    """Following ``Link`` with ``n=1`` gives every public tag, however the others sort."""
    name = unique("acme", "paged")
    admin(world.data_dir, "repo", "visibility", name, "public-tags=latest,latest-dev")
    with world.admin_client(name) as http:
        image = push_image(http, name, "alpha")
        for tag in ("beta", "gamma", "latest", "latest-cut", "latest-dev", "zeta"):
            http.put(
                f"/v2/{name}/manifests/{tag}",
                content=image.body,
                headers={"Content-Type": OCI_MANIFEST},
            )
    with world.client(world.token([pull(name)])) as http:
        seen: list[str] = []
        url: str | None = f"/v2/{name}/tags/list?n=1"
        while url is not None:
            response = http.get(url)
            assert response.status_code == 200, response.text
            seen += response.json()["tags"]
            url = next_link(response)
            assert len(seen) < 10, seen
        assert seen == ["latest", "latest-dev"]
