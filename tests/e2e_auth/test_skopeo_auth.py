"""skopeo against tagtrail with auth on: anonymous, user and pull-token pulls, refused pushes and
the free tier (public-tags=latest,latest-dev), each with an isolated auth file."""

from __future__ import annotations

import json
import secrets
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.helpers import layout_manifest_digest, require_binary, run
from tests.e2e_auth.world import Creds, World, admin_cli, create_pull_token, tags_seen_by_admin

REFUSED = ("unauthorized", "authentication required", "denied", "invalid username/password")


class AuthSkopeo:
    """skopeo with a trust policy and its own auth file (``--authfile`` on every command)."""

    def __init__(self, policy: Path, env: dict[str, str], work: Path) -> None:
        require_binary("skopeo")
        self.policy, self.env, self.work = policy, env, work
        self.authfile = work / "auth.json"

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        verb, *rest = args
        argv = ["skopeo", "--policy", str(self.policy), verb, "--authfile", str(self.authfile)]
        return run([*argv, *rest], env=self.env, check=check)

    def login(self, host: str, creds: Creds) -> None:
        done = self("login", "--tls-verify=false", "-u", creds.username, "-p", creds.password, host)
        assert "Login Succeeded" in done.stdout, done.stdout

    def pull(self, reference: str, *flags: str) -> str:
        """Copy ``reference`` into a fresh OCI layout; the manifest digest written there."""
        layout = self.work / f"pulled-{secrets.token_hex(4)}"
        self("copy", "--src-tls-verify=false", *flags, f"docker://{reference}", f"oci:{layout}:x")
        return layout_manifest_digest(layout, "x")

    def refused(self, *args: str) -> str:
        done = self(*args, check=False)
        assert done.returncode != 0, done.stdout
        assert any(word in done.stderr.lower() for word in REFUSED), done.stderr
        return done.stderr


@pytest.fixture
def skopeo(policy_path: Path, client_env: dict[str, str], tmp_path: Path) -> AuthSkopeo:
    return AuthSkopeo(policy_path, client_env, tmp_path)


def test_anonymous_pull_of_public_but_not_private(world: World, skopeo: AuthSkopeo) -> None:
    public, private = world.image("pubco/app:v1"), world.image("privco/app:v1")
    assert skopeo.pull(f"{world.host}/pubco/app:v1") == public.digest
    inspect = ("inspect", "--tls-verify=false", "--format", "{{.Digest}}")
    assert skopeo(*inspect, f"docker://{world.host}/pubco/app:v1").stdout.strip() == public.digest
    skopeo.refused(*inspect, f"docker://{world.host}/privco/app:v1")
    skopeo.refused(*inspect, f"docker://{world.host}/privco/app@{private.digest}")


def test_private_pull_after_login_as_member(world: World, skopeo: AuthSkopeo) -> None:
    skopeo.refused("login", "--tls-verify=false", "-u", "reader", "-p", "wrong", world.host)
    skopeo.login(world.host, world.reader)
    assert skopeo.pull(f"{world.host}/privco/app:v1") == world.image("privco/app:v1").digest


def test_private_pull_with_pull_token(world: World, skopeo: AuthSkopeo) -> None:
    expected = world.image("privco/app:v1").digest
    reference = f"{world.host}/privco/app:v1"
    assert skopeo.pull(reference, "--src-creds", world.token.joined) == expected
    skopeo.login(world.host, world.token)
    assert skopeo.pull(reference) == expected


def test_push_refused_with_pull_token_allowed_for_pusher(
    world: World, skopeo: AuthSkopeo, tmp_path: Path
) -> None:
    source = world.image("privco/app:v1")
    name = f"privco/skopeo-{secrets.token_hex(3)}"
    copy = ("copy", "--dest-tls-verify=false", f"oci:{source.layout}:v1")
    skopeo.login(world.host, world.token)
    skopeo.refused(*copy, f"docker://{world.host}/{name}:v1")
    skopeo.refused(*copy, f"docker://{world.host}/privco/app:pushed-with-pull-token")
    assert tags_seen_by_admin(world, name) == []
    assert tags_seen_by_admin(world, "privco/app") == ["v1"]

    skopeo.login(world.host, world.writer)  # role push in privco: the same copy goes through
    skopeo(*copy, f"docker://{world.host}/{name}:v1")
    assert skopeo.pull(f"{world.host}/{name}:v1") == source.digest


def test_free_tier_anonymous_pulls_latest_only(world: World, skopeo: AuthSkopeo) -> None:
    base, unused = f"{world.host}/freeco/python", skopeo.work / "unused"
    assert skopeo.pull(f"{base}:latest") == world.image("freeco/python:latest").digest
    assert skopeo.pull(f"{base}:latest-dev") == world.image("freeco/python:latest-dev").digest
    skopeo.refused("copy", "--src-tls-verify=false", f"docker://{base}:1.2.3", f"oci:{unused}:x")
    pinned = world.image("freeco/python:1.2.3").digest
    skopeo.refused("inspect", "--tls-verify=false", "--raw", f"docker://{base}@{pinned}")
    # A digest an earlier latest pointed to is still reachable from a public tag's history.
    first = world.history["freeco/python:latest"][0]
    assert skopeo.pull(f"{base}@{first}") == first
    listed = skopeo("list-tags", "--tls-verify=false", f"docker://{base}").stdout
    assert sorted(json.loads(listed)["Tags"]) == ["latest", "latest-dev"]
    # The admin's login reads every tag.
    skopeo.login(world.host, world.admin)
    assert skopeo.pull(f"{base}:1.2.3") == pinned


def test_revoked_or_expired_pull_token_is_refused(world: World, skopeo: AuthSkopeo) -> None:
    reference, digest = f"{world.host}/privco/app:v1", world.image("privco/app:v1").digest
    created = time.monotonic()
    expired = create_pull_token(world.server.data_dir, "privco", "--ttl", "1s")
    revoked = create_pull_token(world.server.data_dir, "privco")
    assert skopeo.pull(reference, "--src-creds", revoked.joined) == digest
    admin_cli(world.server.data_dir, "token", "revoke", revoked.username)
    time.sleep(max(0.0, created + 1.5 - time.monotonic()))
    for token in (revoked, expired):
        inspect = ("inspect", "--tls-verify=false", "--creds", token.joined)
        skopeo.refused(*inspect, f"docker://{reference}")
