"""Who moved a tag and how, with auth on (in-process): every record stores its actor and
action; ``_oci/tag-history`` shows them (and the previous digest) to callers whose account may
push, never to public readers or pull-only callers; ``_chainguard/history`` keeps its format;
restore needs push rights and is recorded as ``restore`` with its actor."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.helpers import assert_oci_error, push_image
from tests.auth.cli import PullToken, add_user, admin, create_pull_token
from tests.inprocess import InProcessRegistry, in_process_registry

ACTION = "dev.tagtrail.action"
ACTOR = "dev.tagtrail.actor"
PREVIOUS = "dev.tagtrail.previous"
WHO = {ACTION, ACTOR, PREVIOUS}
ORG = "acts"  # public: anyone may read, alice may push, bob may pull
PRIVATE = "hush"  # private: alice may push
ADMIN_PASSWORD = "actors-admin-" + "5e1d0c9b"
ALICE = ("alice", "alice-" + uuid.uuid4().hex)
BOB = ("bob", "bob-" + uuid.uuid4().hex)


@dataclass(frozen=True)
class World:
    registry: InProcessRegistry
    push_token: PullToken  # of ORG, with push
    pull_token: PullToken  # of ORG, pull only

    def client(
        self, auth: tuple[str, str] | None = None, bearer: str | None = None
    ) -> httpx.Client:
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
        return self.registry.client(auth=auth, headers=headers)

    def anonymous(self, name: str, *actions: str) -> httpx.Client:
        """An anonymous caller with a token for ``actions`` on ``name`` (as docker gets one)."""
        return self.client(bearer=self.token(name, *actions))

    def token(self, name: str, *actions: str, auth: tuple[str, str] | None = None) -> str:
        with self.registry.client(auth=auth) as http:
            scope = f"repository:{name}:{','.join(actions)}"
            response = http.get("/token", params={"scope": scope, "service": "tagtrail"})
            assert response.status_code == 200, response.text
            token: str = response.json()["token"]
            return token


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    data: Path = tmp_path_factory.mktemp("actors") / "data"
    with in_process_registry(data, auth=True, admin_password=ADMIN_PASSWORD) as registry:
        for user in (ALICE, BOB):
            add_user(data, *user)
        admin(data, "org", "create", ORG, "--visibility", "public")
        admin(data, "org", "create", PRIVATE, "--visibility", "private")
        admin(data, "org", "member", "add", ORG, "alice", "--role", "push")
        admin(data, "org", "member", "add", ORG, "bob", "--role", "pull")
        admin(data, "org", "member", "add", PRIVATE, "alice", "--role", "push")
        push_token = create_pull_token(data, ORG, push=True)
        pull_token = create_pull_token(data, ORG)
        yield World(registry, push_token, pull_token)


def unique(org: str = ORG) -> str:
    return f"{org}/a-{uuid.uuid4().hex[:12]}"


def oci(http: httpx.Client, name: str, tag: str) -> list[dict[str, Any]]:
    response = http.get(f"/v2/{name}/_oci/tag-history/{tag}")
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = response.json()["manifests"]
    return entries


def who(entries: list[dict[str, Any]]) -> list[tuple[str, str | None, str | None]]:
    """(action, actor, previous) of each entry, newest first."""
    return [
        (e["annotations"][ACTION], e["annotations"].get(ACTOR), e["annotations"].get(PREVIOUS))
        for e in entries
    ]


def test_pushes_and_deletes_record_user_and_action(world: World) -> None:
    name = unique()
    with world.client(ALICE) as alice, world.client(("admin", ADMIN_PASSWORD)) as root:
        one = push_image(alice, name, "latest")
        two = push_image(alice, name, "latest")
        assert root.delete(f"/v2/{name}/manifests/latest").status_code == 202
        three = push_image(root, name, "latest")
        assert who(oci(alice, name, "latest")) == [
            ("push", "admin", None),  # after a deletion the tag did not exist
            ("delete", "admin", two.digest),
            ("push", "alice", one.digest),
            ("push", "alice", None),
        ]
        # Deleting a manifest by digest untags its tags: recorded as the deleter's.
        assert root.delete(f"/v2/{name}/manifests/{three.digest}").status_code == 202
        assert who(oci(alice, name, "latest"))[0] == ("delete", "admin", three.digest)


def test_token_pushes_record_the_token_or_its_subject(world: World) -> None:
    name = unique()
    with world.client(bearer=world.push_token.secret) as by_secret:
        push_image(by_secret, name, "v1")
    with world.client(("admin", ADMIN_PASSWORD)) as root:
        push_image(root, name, "v1")
    # A token from /token names its subject: a user's name, or the pull token's id.
    with world.client(bearer=world.token(name, "pull", "push", auth=ALICE)) as jwt:
        push_image(jwt, name, "v1")
    push_token = (world.push_token.id, world.push_token.secret)
    with world.client(bearer=world.token(name, "pull", "push", auth=push_token)) as jwt:
        push_image(jwt, name, "v1")
        actors = [actor for _, actor, _ in who(oci(jwt, name, "v1"))]
    token_actor = f"token:{world.push_token.id}"
    assert actors == [token_actor, "alice", "admin", token_actor]


def test_public_readers_and_pull_only_callers_never_see_actors(world: World) -> None:
    name = unique()
    with world.client(ALICE) as alice:
        push_image(alice, name, "latest")
        push_image(alice, name, "latest")
        assert {k for e in oci(alice, name, "latest") for k in e["annotations"]} >= WHO
        # The account counts, not the token's scopes: alice's pull token still sees them.
    with world.client(bearer=world.token(name, "pull", auth=ALICE)) as alice_pull:
        assert all(ACTOR in e["annotations"] for e in oci(alice_pull, name, "latest"))
    readers = {
        "anonymous": world.anonymous(name, "pull"),
        "bob (pull role)": world.client(BOB),
        "bob's token": world.client(bearer=world.token(name, "pull", auth=BOB)),
        "pull token": world.client(bearer=world.pull_token.secret),
    }
    for reader, http in readers.items():
        with http:
            entries = oci(http, name, "latest")
            assert len(entries) == 2, reader
            for entry in entries:
                assert not WHO & set(entry["annotations"]), (reader, entry)
                assert "alice" not in str(entry), (reader, entry)


def test_chainguard_history_keeps_its_format_for_pushers(world: World) -> None:
    name = unique()
    with world.client(ALICE) as alice:
        pushed = push_image(alice, name, "latest")
        response = alice.get(f"/v2/{name}/_chainguard/history/latest")
    assert response.status_code == 200, response.text
    body = response.json()
    assert list(body) == ["history"]
    assert [sorted(r) for r in body["history"]] == [["digest", "updateTimestamp"]]
    assert body["history"][0]["digest"] == pushed.digest


def restore(http: httpx.Client, name: str, tag: str, digest: str) -> httpx.Response:
    return http.post(f"/v2/{name}/_tagtrail/tags/{tag}/restore", json={"digest": digest})


def test_restore_is_recorded_with_its_actor(world: World) -> None:
    name = unique()
    with world.client(ALICE) as alice:
        one = push_image(alice, name, "prod")
        two = push_image(alice, name, "prod")
    with world.client(bearer=world.push_token.secret) as by_token:
        response = restore(by_token, name, "prod", one.digest)
        assert response.status_code == 200, response.text
        assert who(oci(by_token, name, "prod"))[0] == (
            "restore",
            f"token:{world.push_token.id}",
            two.digest,
        )


def test_restore_needs_push_rights(world: World) -> None:
    name = unique()
    with world.client(ALICE) as alice:
        one = push_image(alice, name, "prod")
        push_image(alice, name, "prod")
        before = oci(alice, name, "prod")
    with world.client(BOB) as bob:
        error = assert_oci_error(restore(bob, name, "prod", one.digest), 403, "DENIED")
        assert "bob" in error["message"]
    with world.client(bearer=world.pull_token.secret) as pull_token:
        assert_oci_error(restore(pull_token, name, "prod", one.digest), 403, "DENIED")
    with world.client(ALICE) as alice:
        assert oci(alice, name, "prod") == before


def test_restore_in_a_private_repository_answers_as_a_missing_one(world: World) -> None:
    name, missing = unique(PRIVATE), unique(PRIVATE)
    with world.client(ALICE) as alice:
        one = push_image(alice, name, "prod")
    answers = []
    for target in (name, missing):
        with world.client(BOB) as bob:
            response = restore(bob, target, "prod", one.digest)
        error = assert_oci_error(response, 401, "UNAUTHORIZED")
        answers.append((error["message"], response.headers["www-authenticate"].replace(target, "")))
    assert answers[0] == answers[1]
