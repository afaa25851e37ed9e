"""python-dxf against tagtrail with auth on, over TLS (dxf refuses token auth over plain HTTP):
the server's certificate comes from a throwaway trustme CA that dxf gets via ``tlsverify``."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from dxf import DXF
from dxf.exceptions import DXFUnauthorizedError

from tests.e2e_auth.world import Creds, TlsWorld, World

Auth = Callable[[Any, Any], None]


def login(creds: Creds | None) -> Auth:
    """dxf's auth hook: on each 401, a token for the challenged scope (anonymous without creds)."""

    def authenticate(dxf: Any, response: Any) -> None:
        if creds is None:
            dxf.authenticate(response=response)
        else:
            dxf.authenticate(creds.username, creds.password, response=response)

    return authenticate


def client(tls: TlsWorld, name: str, creds: Creds | None = None) -> Any:
    return DXF(tls.world.host, name, auth=login(creds), tlsverify=str(tls.ca_bundle))


def pull(dxf: Any, digest: str) -> bytes:
    return b"".join(dxf.pull_blob(digest))  # dxf checks the digest as it reads


def assert_pulls(dxf: Any, world: World, reference: str) -> None:
    image = world.image(reference)
    tag = reference.partition(":")[2]
    assert dxf.head_manifest_and_response(tag)[0] == image.digest
    assert dxf.get_alias(tag) == [image.layer_digest]
    assert pull(dxf, image.layer_digest) == image.layer


def test_tls_is_verified_against_the_ca(tls_world: TlsWorld) -> None:
    untrusting = DXF(tls_world.world.host, "pubco/app", auth=login(None), tlsverify=True)
    with pytest.raises(requests.exceptions.SSLError):
        untrusting.get_alias("v1")


def test_anonymous_pulls_and_free_tier_history(tls_world: TlsWorld) -> None:
    world = tls_world.world
    assert_pulls(client(tls_world, "pubco/app"), world, "pubco/app:v1")
    free = client(tls_world, "freeco/python")
    assert_pulls(free, world, "freeco/python:latest")
    assert_pulls(free, world, "freeco/python:latest-dev")
    with pytest.raises(DXFUnauthorizedError):
        free.get_alias("1.2.3")
    with pytest.raises(DXFUnauthorizedError):
        pull(free, world.image("freeco/python:1.2.3").layer_digest)
    with pytest.raises(DXFUnauthorizedError):
        client(tls_world, "privco/app").get_alias("v1")
    history = free._request("get", "_chainguard/history/latest").json()["history"]
    assert [r["digest"] for r in history] == world.history["freeco/python:latest"]
    with pytest.raises(DXFUnauthorizedError):
        free._request("get", "_chainguard/history/1.2.3")


@pytest.mark.parametrize("who", ["reader", "token"])
def test_pull_private(tls_world: TlsWorld, who: str) -> None:
    world = tls_world.world
    creds = world.reader if who == "reader" else world.token
    assert_pulls(client(tls_world, "privco/app", creds), world, "privco/app:v1")


def test_pull_token_secret_as_bearer(tls_world: TlsWorld) -> None:
    """A pull token's secret works as the Bearer credential itself, with no token request."""
    dxf = DXF(tls_world.world.host, "privco/app", tlsverify=str(tls_world.ca_bundle))
    dxf.token = tls_world.world.token.password
    assert_pulls(dxf, tls_world.world, "privco/app:v1")


def _denied(exc: pytest.ExceptionInfo[requests.HTTPError]) -> None:
    """The pull token is known and may pull there: 403 DENIED, no new token would help."""
    assert exc.value.response is not None
    assert exc.value.response.status_code == 403
    assert exc.value.response.json()["errors"][0]["code"] == "DENIED"


def test_push_refused_with_pull_token(tls_world: TlsWorld, tmp_path: Path) -> None:
    world = tls_world.world
    blob = tmp_path / "blob.bin"
    blob.write_bytes(os.urandom(10_000))
    for name in (f"privco/dxf-{secrets.token_hex(3)}", "privco/app"):
        dxf = client(tls_world, name, world.token)
        with pytest.raises(requests.HTTPError) as refused:
            dxf.push_blob(str(blob))
        _denied(refused)
    existing = world.image("privco/app:v1").layer_digest
    with pytest.raises(requests.HTTPError) as refused:
        client(tls_world, "privco/app", world.token).set_alias("from-pull-token", existing)
    _denied(refused)
    assert client(tls_world, "privco/app", world.admin).list_aliases() == ["v1"]


def test_push_as_pusher_then_pull_as_reader(tls_world: TlsWorld, tmp_path: Path) -> None:
    world = tls_world.world
    name = f"privco/dxf-{secrets.token_hex(3)}"
    blob = tmp_path / "blob.bin"
    blob.write_bytes(os.urandom(10_000))
    writer = client(tls_world, name, world.writer)
    digest = writer.push_blob(str(blob))
    writer.set_alias("v1", digest)
    reader = client(tls_world, name, world.reader)
    assert reader.get_alias("v1") == [digest]
    assert pull(reader, digest) == blob.read_bytes()
    with pytest.raises(DXFUnauthorizedError):
        client(tls_world, name).get_alias("v1")
