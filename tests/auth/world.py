"""The accounts of the shared auth server (built once by the ``world`` fixture).

Organisations (four letters each, so that names of equal length compare byte for byte):
``acme`` (private; alice push, bob pull, dave admin), ``peer`` (private; eve push),
``open`` (public). ``carol`` belongs to none. In ``acme``, ``acme/public-all`` is public and
``acme/public-tags`` public for the tags ``latest`` and ``latest-dev``.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric import ec

from tests.api.helpers import OCI_INDEX, Pushed, index_manifest, push_image, push_manifest
from tests.auth.cli import PullToken, add_user, admin, create_pull_token
from tests.auth.helpers import (
    ADMIN_PASSWORD,
    SERVICE,
    client,
    everything,
    post_token,
    request_token,
    token_for,
)
from tests.auth.jwts import signing_key
from tests.server import RunningServer


def _password() -> str:
    return "pw-" + uuid.uuid4().hex


ADMIN = ("admin", ADMIN_PASSWORD)
ALICE = ("alice", _password())
BOB = ("bob", _password())
DAVE = ("dave", _password())
EVE = ("eve", _password())
CAROL = ("carol", _password())
USERS = (ALICE, BOB, DAVE, EVE, CAROL)
ROLES = {"alice": ("acme", "push"), "bob": ("acme", "pull"), "dave": ("acme", "admin")}
ROLES |= {"eve": ("peer", "push")}
PUBLIC_ALL = "acme/public-all"
PUBLIC_TAGS = "acme/public-tags"


def unique(org: str, prefix: str = "r") -> str:
    """A repository name in ``org`` no other test uses."""
    return f"{org}/{prefix}-{uuid.uuid4().hex[:12]}"


def blobs_of(image: Pushed) -> list[str]:
    """The config and layer digests of an image manifest."""
    document = json.loads(image.body)
    return [document["config"]["digest"], *(layer["digest"] for layer in document["layers"])]


@dataclass(frozen=True)
class PublicTagsRepo:
    """``acme/public-tags``: public for ``latest`` and ``latest-dev`` only."""

    latest_before: Pushed  # latest pointed here, then moved on
    latest: Pushed
    dev_children: tuple[Pushed, Pushed]  # images of the index
    dev_index: Pushed  # latest-dev
    stable_before: Pushed  # only ever tagged stable
    stable: Pushed  # stable and latest-devel (matches no public tag exactly)

    def public(self) -> list[Pushed]:
        return [self.latest_before, self.latest, *self.dev_children, self.dev_index]

    def private(self) -> list[Pushed]:
        return [self.stable_before, self.stable]


def _populate(http: httpx.Client) -> PublicTagsRepo:
    name = PUBLIC_TAGS
    latest_before = push_image(http, name, "latest", layers=2)
    latest = push_image(http, name, "latest", layers=2)
    children = (push_image(http, name), push_image(http, name))
    index = push_manifest(http, name, "latest-dev", index_manifest(children), OCI_INDEX)
    stable_before = push_image(http, name, "stable")
    stable = push_image(http, name, "stable")
    push_manifest(http, name, "latest-devel", stable.body)
    push_image(http, PUBLIC_ALL, "latest")
    push_image(http, PUBLIC_ALL, "other")
    return PublicTagsRepo(latest_before, latest, children, index, stable_before, stable)


@dataclass(frozen=True)
class World:
    server: RunningServer
    tags_repo: PublicTagsRepo
    acme_pull: PullToken  # acme, pull only
    acme_push: PullToken  # acme, pull and push
    peer_pull: PullToken  # peer, pull only
    refresh_tokens: dict[tuple[str, str], str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def data_dir(self) -> Path:
        return self.server.data_dir

    def key(self) -> ec.EllipticCurvePrivateKey:
        return signing_key(self.data_dir)

    def token(self, scopes: list[str], credentials: tuple[str, str] | None = None) -> str:
        """A token for ``scopes``. With credentials, from a refresh token got once per
        account (each Basic request costs the server an argon2 verification)."""
        if credentials is None:
            return token_for(self.url, scopes)
        refresh = self.refresh_tokens.get(credentials)
        if refresh is None:
            response = request_token(self.url, [], credentials, offline_token="true")
            assert response.status_code == 200, response.text
            refresh = self.refresh_tokens[credentials] = response.json()["refresh_token"]
        form = {"grant_type": "refresh_token", "refresh_token": refresh, "service": SERVICE}
        response = post_token(self.url, form | {"scope": " ".join(scopes), "client_id": "tests"})
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    def admin_client(self, *names: str) -> httpx.Client:
        """A client with every right on ``names`` (to set repositories up)."""
        return client(self.url, self.token([everything(n) for n in names], ADMIN))

    def client(self, token: str | None = None) -> httpx.Client:
        return client(self.url, token)


def build_world(server: RunningServer) -> World:
    """Accounts made with the admin CLI while the server runs."""
    data = server.data_dir
    for name, password in USERS:
        add_user(data, name, password)
    admin(data, "org", "create", "acme")
    admin(data, "org", "create", "peer", "--visibility", "private")
    admin(data, "org", "create", "open", "--visibility", "public")
    for user, (org, role) in ROLES.items():
        admin(data, "org", "member", "add", org, user, "--role", role)
    admin(data, "repo", "visibility", PUBLIC_ALL, "public")
    admin(data, "repo", "visibility", PUBLIC_TAGS, "public-tags=latest,latest-dev")
    with client(
        server.url, token_for(server.url, [everything(PUBLIC_TAGS), everything(PUBLIC_ALL)], ADMIN)
    ) as http:
        tags_repo = _populate(http)
    return World(
        server,
        tags_repo,
        acme_pull=create_pull_token(data, "acme"),
        acme_push=create_pull_token(data, "acme", push=True),
        peer_pull=create_pull_token(data, "peer"),
    )
