"""The client against tagtrail with auth on: the bearer-challenge flow with credentials found
the way docker finds them (``auths``, ``credHelpers``, ``credsStore``, identity tokens),
``auth token -H`` with curl, ``login``/``logout``, and one-line 401s naming the scope."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.auth.cli import admin
from tests.client.helpers import (
    assert_one_line_error,
    docker_config,
    push_moves,
    run_cli,
)
from tests.server import RunningServer, start_server
from tests.ssl_context import SHARED

PASSWORD = "client-tests-admin-password"


@dataclass(frozen=True)
class Seeded:
    registry: RunningServer
    name: str
    ref: str
    digests: list[str]


def admin_client(registry: RunningServer, name: str) -> httpx.Client:
    token = httpx.get(
        f"{registry.url}/token",
        params={"scope": f"repository:{name}:pull,push,delete"},
        auth=("admin", PASSWORD),
        verify=SHARED,
    ).json()["token"]
    return httpx.Client(
        base_url=registry.url,
        timeout=30,
        headers={"Authorization": f"Bearer {token}"},
        verify=SHARED,
    )


def admin_cli(registry: RunningServer, *args: str) -> str:
    """``tagtrail admin`` on the registry's storage, in this process."""
    return admin(registry.data_dir, *args)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    registry = start_server(
        tmp_path_factory.mktemp("auth") / "data",
        "--auth",
        env={"TAGTRAIL_ADMIN_PASSWORD": PASSWORD},
    )
    name = "private-org/app"
    admin_cli(registry, "org", "create", "private-org", "--visibility", "private")
    with admin_client(registry, name) as client:
        digests = push_moves(client, name, "latest", 3)
    yield Seeded(registry, name, f"{registry.host}/{name}:latest", digests)
    registry.stop()


def basic(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


def newest_first(seeded: Seeded) -> list[str]:
    return seeded.digests[::-1]


def history_digests(seeded: Seeded, env: dict[str, str]) -> list[str]:
    result = run_cli("history", seeded.ref, "-o", "json", env=env)
    assert result.code == 0, result.err
    return [record["digest"] for record in result.json()]


def test_anonymous_is_refused_with_the_scope(seeded: Seeded, tmp_path: Path) -> None:
    env = docker_config(tmp_path / "docker", {})
    result = run_cli("history", seeded.ref, env=env)
    assert_one_line_error(
        result,
        "401 Unauthorized",
        f"scope repository:{seeded.name}:pull refused",
        "anonymous",
    )


def test_credentials_from_auths(seeded: Seeded, tmp_path: Path) -> None:
    host = seeded.registry.host
    env = docker_config(tmp_path / "docker", {"auths": {host: {"auth": basic("admin", PASSWORD)}}})
    assert history_digests(seeded, env) == newest_first(seeded)
    # Keys written as URLs name the same registry, as docker reads them.
    env = docker_config(
        tmp_path / "url", {"auths": {f"http://{host}/v1/": {"auth": basic("admin", PASSWORD)}}}
    )
    assert history_digests(seeded, env) == newest_first(seeded)
    env = docker_config(
        tmp_path / "plain", {"auths": {host: {"username": "admin", "password": PASSWORD}}}
    )
    assert history_digests(seeded, env) == newest_first(seeded)


def test_wrong_password_is_one_line(seeded: Seeded, tmp_path: Path) -> None:
    host = seeded.registry.host
    env = docker_config(tmp_path / "docker", {"auths": {host: {"auth": basic("admin", "nope")}}})
    result = run_cli("history", seeded.ref, env=env)
    assert_one_line_error(result, "refused the credentials of admin", "auths")


def test_identity_token(seeded: Seeded, tmp_path: Path) -> None:
    response = httpx.get(
        f"{seeded.registry.url}/token",
        params={"offline_token": "true", "service": "tagtrail"},
        auth=("admin", PASSWORD),
        verify=SHARED,
    )
    refresh = response.json()["refresh_token"]
    env = docker_config(
        tmp_path / "docker", {"auths": {seeded.registry.host: {"identitytoken": refresh}}}
    )
    assert history_digests(seeded, env) == newest_first(seeded)


def write_helper(directory: Path, log: Path, username: str, secret: str) -> dict[str, str]:
    """A ``docker-credential-tagtrail-test`` that logs its calls and stores into a file."""
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / "docker-credential-tagtrail-test"
    store = directory / "store.json"
    store.write_text(json.dumps({"Username": username, "Secret": secret}))
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        f"log, store = {str(log)!r}, {str(store)!r}\n"
        "action, data = sys.argv[1], sys.stdin.read()\n"
        "open(log, 'a').write(json.dumps([action, data]) + '\\n')\n"
        "if action == 'get':\n"
        "    saved = json.load(open(store))\n"
        "    if not saved:\n"
        "        print('credentials not found in native keychain'); sys.exit(1)\n"
        "    print(json.dumps({'ServerURL': data, **saved}))\n"
        "elif action == 'store':\n"
        "    given = json.loads(data)\n"
        "    kept = {key: given[key] for key in ('Username', 'Secret')}\n"
        "    json.dump(kept, open(store, 'w'))\n"
        "elif action == 'erase':\n"
        "    json.dump({}, open(store, 'w'))\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return {"PATH": f"{directory}{os.pathsep}{os.environ['PATH']}"}


def helper_calls(log: Path) -> list[list[str]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_credentials_from_a_cred_helper(seeded: Seeded, tmp_path: Path) -> None:
    host = seeded.registry.host
    log = tmp_path / "helper.log"
    env = write_helper(tmp_path / "bin", log, "admin", PASSWORD)
    env |= docker_config(
        tmp_path / "docker",
        {
            # The helper wins over an auths entry, as in docker.
            "auths": {host: {"auth": basic("admin", "stale-password")}},
            "credHelpers": {host: "tagtrail-test"},
        },
    )
    assert history_digests(seeded, env) == newest_first(seeded)
    assert helper_calls(log) == [["get", host]]


def test_credentials_from_a_creds_store(seeded: Seeded, tmp_path: Path) -> None:
    log = tmp_path / "helper.log"
    env = write_helper(tmp_path / "bin", log, "admin", PASSWORD)
    env |= docker_config(tmp_path / "docker", {"credsStore": "tagtrail-test"})
    assert history_digests(seeded, env) == newest_first(seeded)
    assert helper_calls(log) == [["get", seeded.registry.host]]


def test_a_missing_helper_is_one_line(seeded: Seeded, tmp_path: Path) -> None:
    env = docker_config(
        tmp_path / "docker", {"credHelpers": {seeded.registry.host: "no-such-helper"}}
    )
    result = run_cli("history", seeded.ref, env=env)
    assert_one_line_error(result, "docker-credential-no-such-helper is not on PATH")


def test_auth_token_header_works_with_curl(seeded: Seeded, tmp_path: Path) -> None:
    host = seeded.registry.host
    env = docker_config(tmp_path / "docker", {"auths": {host: {"auth": basic("admin", PASSWORD)}}})
    result = run_cli("auth", "token", "-H", f"{host}/{seeded.name}", env=env)
    assert result.code == 0, result.err
    header = result.out.rstrip("\n")
    assert header.startswith("Authorization: Bearer ")
    assert "\n" not in header
    url = f"{seeded.registry.url}/v2/{seeded.name}/_chainguard/history/latest"
    curl = subprocess.run(
        ["curl", "-sS", "-f", "-H", header, url],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert curl.returncode == 0, curl.stderr
    assert [r["digest"] for r in json.loads(curl.stdout)["history"]] == seeded.digests
    bare = run_cli("auth", "token", f"{host}/{seeded.name}", env=env)
    assert bare.code == 0, bare.err
    token = bare.out.rstrip("\n")
    assert token.count(".") == 2  # a JWT
    curl = subprocess.run(
        ["curl", "-sS", "-f", "-H", f"Authorization: Bearer {token}", url],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert curl.returncode == 0, curl.stderr
    unauthenticated = subprocess.run(
        ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", url],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert unauthenticated.stdout == "401"


def test_auth_token_without_auth_is_one_line(tmp_path: Path) -> None:
    registry = start_server(tmp_path / "noauth")
    try:
        result = run_cli("auth", "token", f"{registry.host}/some/app")
        assert_one_line_error(result, "asks for no authentication")
    finally:
        registry.stop()


def test_public_repository_anonymously(seeded: Seeded, tmp_path: Path) -> None:
    name = "open-org/app"
    admin_cli(seeded.registry, "org", "create", "open-org", "--visibility", "public")
    with admin_client(seeded.registry, name) as client:
        digests = push_moves(client, name, "latest", 2)
    env = docker_config(tmp_path / "docker", {})
    result = run_cli("history", f"{seeded.registry.host}/{name}:latest", "-o", "json", env=env)
    assert result.code == 0, result.err
    assert [r["digest"] for r in result.json()] == digests[::-1]
    # Pushing is another scope: refused, and the message says which.
    refused = run_cli(
        "restore", f"{seeded.registry.host}/{name}:latest", "--to", digests[0], env=env
    )
    # (the scope as the registry's challenge names it: push, with pull or not)
    assert_one_line_error(refused, f"scope repository:{name}:", "push refused")


def test_login_and_logout_with_auths(seeded: Seeded, tmp_path: Path) -> None:
    host = seeded.registry.host
    env = docker_config(tmp_path / "docker", {"auths": {"other.example": {"auth": "eDp5"}}})
    config = tmp_path / "docker" / "config.json"
    bad = run_cli("login", host, "-u", "admin", "--password-stdin", env=env, stdin="wrong\n")
    assert_one_line_error(bad, "refused the credentials of admin")
    assert json.loads(config.read_text()) == {"auths": {"other.example": {"auth": "eDp5"}}}
    good = run_cli("login", host, "-u", "admin", "--password-stdin", env=env, stdin=PASSWORD + "\n")
    assert good.code == 0, good.err
    assert "Login Succeeded" in good.out
    assert json.loads(config.read_text()) == {
        "auths": {"other.example": {"auth": "eDp5"}, host: {"auth": basic("admin", PASSWORD)}}
    }
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert history_digests(seeded, env) == newest_first(seeded)
    out = run_cli("logout", host, env=env)
    assert out.code == 0
    assert json.loads(config.read_text()) == {"auths": {"other.example": {"auth": "eDp5"}}}
    assert_one_line_error(run_cli("history", seeded.ref, env=env), "401 Unauthorized")
    assert run_cli("logout", host, env=env).out == f"Not logged in to {host}\n"


def test_login_and_logout_with_a_helper(seeded: Seeded, tmp_path: Path) -> None:
    host = seeded.registry.host
    log = tmp_path / "helper.log"
    env = write_helper(tmp_path / "bin", log, "", "")
    (tmp_path / "bin" / "store.json").write_text("{}")
    env |= docker_config(tmp_path / "docker", {"credsStore": "tagtrail-test"})
    result = run_cli("login", host, "-u", "admin", "--password-stdin", env=env, stdin=PASSWORD)
    assert result.code == 0, result.err
    stored = json.loads((tmp_path / "bin" / "store.json").read_text())
    assert stored == {"Username": "admin", "Secret": PASSWORD}
    config = json.loads((tmp_path / "docker" / "config.json").read_text())
    assert config == {"credsStore": "tagtrail-test", "auths": {host: {}}}
    assert history_digests(seeded, env) == newest_first(seeded)
    assert run_cli("logout", host, env=env).code == 0
    assert [call[0] for call in helper_calls(log)] == ["store", "get", "erase"]
    assert_one_line_error(run_cli("history", seeded.ref, env=env), "anonymous")
