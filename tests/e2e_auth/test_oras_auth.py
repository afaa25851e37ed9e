"""oras-py against tagtrail with auth on. oras-py's login only writes the Docker config (it asks
the registry nothing), so every login here is proven by a pull or push that needs it."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

import oras.client
import pytest

from tests.e2e.helpers import layer_files
from tests.e2e_auth.world import Creds, World


def oras_client(host: str, backend: str = "token") -> Any:
    """An unmodified oras-py client. Anonymous pulls use its token backend; logins its basic
    backend, which sends the saved credentials with each request. (oras-py 0.2.x's token
    backend keeps its first token and asks again only on a 403, while registries answer a
    token without the needed scope with 401 insufficient_scope: a push after a pull-scoped
    challenge, or a second repository, would fail. One client per repository avoids it.)"""
    return oras.client.OrasClient(hostname=host, insecure=True, auth_backend=backend)


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The Docker config logins write; HOME moves so that ~/.docker/config.json is not read."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return str(tmp_path / "docker-config.json")


def login(world: World, creds: Creds, config: str) -> Any:
    client = oras_client(world.host, "basic")
    answer = client.login(creds.username, creds.password, hostname=world.host, config_path=config)
    assert answer == {"Status": "Login Succeeded"}
    return client


def pull(client: Any, target: str, out: Path, config: str | None = None) -> dict[str, bytes]:
    """The files an oras pull writes (it unpacks a tar+gzip image layer into ``out``)."""
    assert len(client.pull(target=target, outdir=str(out), config_path=config)) == 1
    return {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()}


def files_of(world: World, reference: str) -> dict[str, bytes]:
    return layer_files(world.image(reference).layer)


def test_anonymous_pulls_and_free_tier_history(world: World, config: str, tmp_path: Path) -> None:
    for reference in ("pubco/app:v1", "freeco/python:latest", "freeco/python:latest-dev"):
        client = oras_client(world.host)
        got = pull(client, f"{world.host}/{reference}", tmp_path / reference.replace("/", "_"))
        assert got == files_of(world, reference)
    for reference in ("freeco/python:1.2.3", "privco/app:v1"):
        with pytest.raises(ValueError, match="Unauthorized"):
            oras_client(world.host).pull(
                target=f"{world.host}/{reference}", outdir=str(tmp_path / "refused")
            )
    client = oras_client(world.host)
    history = f"http://{world.host}/v2/freeco/python/_chainguard/history/latest"
    got = client.do_request(history)
    assert got.status_code == 200, got.text
    digests = [record["digest"] for record in json.loads(got.text)["history"]]
    assert digests == world.history["freeco/python:latest"]
    assert client.do_request(history.replace("latest", "1.2.3")).status_code == 401


@pytest.mark.parametrize("who", ["reader", "token"])
def test_login_then_pull_private(world: World, config: str, tmp_path: Path, who: str) -> None:
    target, expected = f"{world.host}/privco/app:v1", files_of(world, "privco/app:v1")
    with pytest.raises(ValueError, match="Unauthorized"):
        oras_client(world.host).pull(target=target, outdir=str(tmp_path / "anonymous"))
    client = login(world, world.reader if who == "reader" else world.token, config)
    assert pull(client, target, tmp_path / "same-client") == expected
    # Another client finds the credentials the login saved.
    from_config = oras_client(world.host, "basic")
    assert pull(from_config, target, tmp_path / "from-config", config) == expected


def test_push_refused_with_pull_token(world: World, config: str, tmp_path: Path) -> None:
    artifact = tmp_path / "artifact.bin"
    artifact.write_bytes(os.urandom(2048))
    client = login(world, world.token, config)
    for target in (f"privco/oras-{secrets.token_hex(3)}:v1", "privco/app:pushed-with-token"):
        with pytest.raises(ValueError, match="session url"):
            client.push(
                target=f"{world.host}/{target}", files=[str(artifact)], disable_path_validation=True
            )
    got = pull(client, f"{world.host}/privco/app:v1", tmp_path / "still")
    assert got == files_of(world, "privco/app:v1")


def test_login_as_pusher_push_then_pull(world: World, config: str, tmp_path: Path) -> None:
    artifact = tmp_path / "artifact.bin"
    artifact.write_bytes(os.urandom(4096))
    target = f"{world.host}/privco/oras-{secrets.token_hex(3)}:v1"
    pushed = login(world, world.writer, config).push(
        target=target, files=[str(artifact)], disable_path_validation=True
    )
    assert pushed.status_code == 201, pushed.text
    reader_config = str(tmp_path / "reader-config.json")
    reader = login(world, world.reader, reader_config)
    assert pull(reader, target, tmp_path / "out") == {"artifact.bin": artifact.read_bytes()}
    with pytest.raises(ValueError, match="Unauthorized"):
        oras_client(world.host).pull(target=target, outdir=str(tmp_path / "anonymous"))
