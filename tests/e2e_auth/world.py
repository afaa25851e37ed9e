"""An auth-enabled tagtrail seeded through the admin CLI and the token flow: organisations,
users, a pull token, visibilities and images pushed by the admin (built as OCI layouts)."""

from __future__ import annotations

import re
import secrets
import ssl
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.cli.helpers import tagtrail
from tests.e2e.helpers import BuiltImage, build_image, describe, layout_blob
from tests.server import RunningServer, start_server
from tests.ssl_context import SHARED

ADMIN = "admin"
FREE_TAGS = "public-tags=latest,latest-dev"


@dataclass(frozen=True)
class Creds:
    username: str
    password: str

    @property
    def joined(self) -> str:
        """``user:password``, as skopeo's --creds wants it."""
        return f"{self.username}:{self.password}"


@dataclass(frozen=True)
class Image:
    """An image pushed to ``name:tag`` and the OCI layout it came from."""

    name: str
    tag: str
    layout: Path
    built: BuiltImage

    @property
    def digest(self) -> str:
        return self.built.digest

    @property
    def config_digest(self) -> str:
        return self.built.config_digest

    @property
    def layer_digest(self) -> str:
        return self.built.layer_digests[0]

    @property
    def layer(self) -> bytes:
        return layout_blob(self.layout, self.layer_digest)


@dataclass
class World:
    """What the tests rely on. Organisations: ``pubco`` (public), ``privco`` (private; ``reader``
    has role pull, ``writer`` role push, ``token`` is a pull-only token), ``freeco`` (private, its
    ``python`` repository public for latest and latest-dev) and ``chainguard`` (public)."""

    server: RunningServer
    admin: Creds
    reader: Creds
    writer: Creds
    token: Creds
    images: dict[str, Image] = field(default_factory=dict)
    history: dict[str, list[str]] = field(default_factory=dict)

    @property
    def host(self) -> str:
        return self.server.host

    def image(self, reference: str) -> Image:
        return self.images[reference]


@dataclass(frozen=True)
class TlsWorld:
    """A world served over HTTPS; ``ca_bundle`` holds the CA its certificate comes from."""

    world: World
    ca_bundle: Path


def admin_cli(data_dir: Path, *args: str, stdin: str = "") -> str:
    """``tagtrail admin --data-dir D ARGS``; its output, or the test fails showing it. In this
    process: the seeding runs a dozen commands, and tests/auth covers them as processes."""
    argv = ["admin", "--data-dir", str(data_dir), *args]
    done = tagtrail(*argv, stdin=stdin)
    assert done.returncode == 0, describe(done.args, done.returncode, done.stdout, done.stderr)
    return done.stdout


def create_pull_token(data_dir: Path, org: str, *flags: str) -> Creds:
    printed = admin_cli(data_dir, "token", "create", "--org", org, "--pull", *flags)
    token_id = re.search(r"^id:\s+(\S+)$", printed, re.MULTILINE)
    secret = re.search(r"^secret:\s+(\S+)$", printed, re.MULTILINE)
    assert token_id and secret, printed
    return Creds(token_id[1], secret[1])


def bearer_token(http: httpx.Client, creds: Creds | None, scope: str) -> str:
    """A token from ``GET /token`` (anonymous without ``creds``)."""
    auth = None if creds is None else (creds.username, creds.password)
    got = http.get("/token", params={"service": "tagtrail", "scope": scope}, auth=auth)
    assert got.status_code == 200, (scope, got.status_code, got.text)
    token: str = got.json()["token"]
    return token


def tags_seen_by_admin(world: World, name: str) -> list[str]:
    """The tags of ``name`` (none when it does not exist), read with an admin token."""
    with httpx.Client(base_url=world.server.url, timeout=30, verify=SHARED) as http:
        token = bearer_token(http, world.admin, f"repository:{name}:pull")
        got = http.get(f"/v2/{name}/tags/list", headers={"Authorization": f"Bearer {token}"})
    if got.status_code == 404:
        return []
    assert got.status_code == 200, got.text
    tags: list[str] = got.json()["tags"]
    return tags


def push_image(http: httpx.Client, admin: Creds, image: Image) -> None:
    """Push ``image`` through the token flow as the admin: blobs, then the manifest by tag."""
    token = bearer_token(http, admin, f"repository:{image.name}:pull,push")
    headers = {"Authorization": f"Bearer {token}"}
    for digest in (*image.built.layer_digests, image.config_digest):
        started = http.post(f"/v2/{image.name}/blobs/uploads/", headers=headers)
        assert started.status_code == 202, started.text
        data = layout_blob(image.layout, digest)
        done = http.put(
            started.headers["location"], params={"digest": digest}, content=data, headers=headers
        )
        assert done.status_code == 201, done.text
    put = http.put(
        f"/v2/{image.name}/manifests/{image.tag}",
        content=image.built.manifest,
        headers={**headers, "Content-Type": image.built.media_type},
    )
    assert put.status_code == 201, put.text
    assert put.headers["docker-content-digest"] == image.digest


def build_and_push(world: World, http: httpx.Client, work: Path, name: str, tag: str) -> Image:
    layout = work / "layouts" / name.replace("/", "_")
    files = {"hello.txt": f"{name}:{tag} {secrets.token_hex(8)}\n".encode()}
    image = Image(name, tag, layout, build_image(layout, tag, files))
    push_image(http, world.admin, image)
    world.images[f"{name}:{tag}"] = image
    world.history.setdefault(f"{name}:{tag}", []).append(image.digest)
    return image


def start_world(work: Path, *serve_flags: str, ca_bundle: Path | None = None) -> World:
    """Start ``tagtrail serve --auth`` on a fresh data directory and seed it (over TLS when
    ``serve_flags`` say so: then ``ca_bundle`` verifies the server)."""
    data = work / "data"
    admin = Creds(ADMIN, secrets.token_urlsafe(12))
    server = start_server(
        data, "--auth", *serve_flags, env={"TAGTRAIL_ADMIN_PASSWORD": admin.password}
    )
    try:
        reader = Creds("reader", secrets.token_urlsafe(12))
        writer = Creds("writer", secrets.token_urlsafe(12))
        for user in (reader, writer):
            admin_cli(data, "user", "add", user.username, "--password-stdin", stdin=user.password)
        admin_cli(data, "org", "create", "pubco", "--visibility", "public")
        admin_cli(data, "org", "create", "privco")
        admin_cli(data, "org", "create", "freeco")
        admin_cli(data, "org", "create", "chainguard", "--visibility", "public")
        admin_cli(data, "org", "member", "add", "privco", "reader", "--role", "pull")
        admin_cli(data, "org", "member", "add", "privco", "writer", "--role", "push")
        admin_cli(data, "repo", "visibility", "freeco/python", FREE_TAGS)
        token = create_pull_token(data, "privco", "--ttl", "720h")
        world = World(server, admin, reader, writer, token)
        verify = True if ca_bundle is None else ssl.create_default_context(cafile=ca_bundle)
        with httpx.Client(base_url=server.url, timeout=30, verify=verify) as http:
            build_and_push(world, http, work, "pubco/app", "v1")
            build_and_push(world, http, work, "privco/app", "v1")
            for tag in ("latest", "latest-dev", "1.2.3", "latest"):
                build_and_push(world, http, work, "freeco/python", tag)
            for _ in range(3):
                build_and_push(world, http, work, "chainguard/python", "latest")
        return world
    except BaseException:
        server.stop()
        raise
