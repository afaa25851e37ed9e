"""podman and buildah against tagtrail with auth on: login (with --authfile), push, pull.
Daemonless, vfs storage isolated per test under a short /tmp path (podman limits runroots)."""

from __future__ import annotations

import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.helpers import require_binary, run
from tests.e2e_auth.world import Creds, World, tags_seen_by_admin

REFUSED = ("unauthorized", "authentication required", "denied", "invalid username/password")


class Containers:
    """buildah and podman sharing one private storage, with explicit auth files."""

    def __init__(self, base: Path, policy: Path, env: dict[str, str]) -> None:
        self.base, self.policy_path, self.env = base, policy, env
        self.policy = ["--signature-policy", str(policy), "--tls-verify=false"]
        self.storage = [
            *("--root", str(base / "root"), "--runroot", str(base / "run")),
            *("--storage-driver", "vfs"),
        ]

    def buildah(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run(["buildah", *self.storage, *args], env=self.env, check=check, timeout=120)

    def podman(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        extra = ["--tmpdir", str(self.base / "tmp"), "--events-backend", "none"]
        argv = ["podman", *self.storage, *extra, *args]
        return run(argv, env=self.env, check=check, timeout=120)

    def authfile(self, creds: Creds | None) -> str:
        """The auth file a login as ``creds`` writes; without them, one holding no credentials."""
        path = self.base / f"auth-{creds.username if creds else 'anonymous'}.json"
        if creds is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text('{"auths": {}}')
        return str(path)

    def login(self, tool: str, host: str, creds: Creds) -> list[str]:
        """``TOOL login`` into a fresh auth file; the ``--authfile`` flags that use it."""
        authfile = self.authfile(creds)
        argv = ["login", "--authfile", authfile, "--tls-verify=false"]
        runner = self.podman if tool == "podman" else self.buildah
        done = runner(*argv, "-u", creds.username, "-p", creds.password, host)
        assert "Login Succeeded" in done.stdout, done.stdout
        return ["--authfile", authfile]

    def pull(self, tool: str, reference: str, creds: Creds | None = None) -> str:
        """The pulled image's ID (its config digest without sha256:)."""
        runner = self.podman if tool == "podman" else self.buildah
        source = reference if tool == "podman" else f"docker://{reference}"
        done = runner("pull", "--authfile", self.authfile(creds), *self.policy, source)
        return done.stdout.strip().splitlines()[-1]

    def other(self, label: str) -> Containers:
        """Another private storage (and auth files), beside this one."""
        return Containers(self.base / label, self.policy_path, self.env)

    def refused(self, tool: str, *args: str) -> None:
        runner = self.podman if tool == "podman" else self.buildah
        done = runner(*args, check=False)
        assert done.returncode != 0, done.stdout
        assert any(word in done.stderr.lower() for word in REFUSED), done.stderr


@pytest.fixture
def containers(policy_path: Path, client_env: dict[str, str]) -> Iterator[Containers]:
    require_binary("buildah")
    require_binary("podman")
    base = Path(tempfile.mkdtemp(prefix="tt-auth-"))
    yield Containers(base, policy_path, client_env)
    shutil.rmtree(base, ignore_errors=True)


def image_id(world: World, reference: str) -> str:
    return world.image(reference).config_digest.removeprefix("sha256:")


def build(box: Containers, context: Path, tag: str) -> str:
    context.mkdir()
    (context / "hello.txt").write_text(f"built {secrets.token_hex(8)}\n")
    (context / "Containerfile").write_text("FROM scratch\nCOPY hello.txt /hello.txt\n")
    done = box.buildah("bud", "--isolation", "chroot", "-t", tag, str(context))
    return done.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("tool", ["podman", "buildah"])
def test_anonymous_pulls(world: World, containers: Containers, tool: str) -> None:
    """Public repository and free-tier tags pull without credentials; others are refused."""
    for reference in ("pubco/app:v1", "freeco/python:latest", "freeco/python:latest-dev"):
        pulled = containers.pull(tool, f"{world.host}/{reference}")
        assert pulled == image_id(world, reference)
    for reference in ("freeco/python:1.2.3", "privco/app:v1"):
        source = f"{world.host}/{reference}"
        source = source if tool == "podman" else f"docker://{source}"
        containers.refused(tool, "pull", *containers.policy, source)


@pytest.mark.parametrize("tool", ["podman", "buildah"])
@pytest.mark.parametrize("who", ["reader", "token"])
def test_login_then_pull_private(world: World, containers: Containers, tool: str, who: str) -> None:
    creds = world.reader if who == "reader" else world.token
    login = ["login", "--authfile", containers.authfile(None), "--tls-verify=false"]
    containers.refused(tool, *login, "-u", creds.username, "-p", "wrong", world.host)
    containers.login(tool, world.host, creds)
    pulled = containers.pull(tool, f"{world.host}/privco/app:v1", creds)
    assert pulled == image_id(world, "privco/app:v1")


def test_buildah_push_as_pusher_then_pulls(
    world: World, containers: Containers, tmp_path: Path
) -> None:
    built = build(containers, tmp_path / "context", "localhost/auth-e2e:1")
    reference = f"{world.host}/privco/built-{secrets.token_hex(3)}:1"
    authfile = containers.login("buildah", world.host, world.writer)
    digestfile = tmp_path / "digest"
    push = ("push", *authfile, *containers.policy, "--digestfile", str(digestfile))
    containers.buildah(*push, "localhost/auth-e2e:1", f"docker://{reference}")
    assert digestfile.read_text().strip().startswith("sha256:")

    for tool, creds in (("podman", world.reader), ("buildah", world.token)):
        puller = containers.other(f"pull-{tool}")
        puller.login(tool, world.host, creds)
        assert puller.pull(tool, reference, creds) == built


@pytest.mark.parametrize("tool", ["podman", "buildah"])
def test_push_refused_with_pull_token(
    world: World, containers: Containers, tmp_path: Path, tool: str
) -> None:
    build(containers, tmp_path / "context", "localhost/auth-e2e:1")
    name = f"privco/refused-{secrets.token_hex(3)}"
    authfile = containers.login(tool, world.host, world.token)
    for target in (f"{name}:1", "privco/app:pushed-with-pull-token"):
        destination = f"docker://{world.host}/{target}"
        containers.refused(tool, "push", *authfile, *containers.policy, "localhost/auth-e2e:1",
                           destination)  # fmt: skip
    assert tags_seen_by_admin(world, name) == []
    assert tags_seen_by_admin(world, "privco/app") == ["v1"]
