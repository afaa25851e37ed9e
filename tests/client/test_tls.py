"""The client and loopback registries over TLS: HTTPS first, plain HTTP only when the server
speaks nothing else, never after a certificate it does not trust; a TLS/HTTP mismatch said in
words. Against a tagtrail serving HTTPS (with auth, its certificate from a throwaway trustme CA)
and one serving plain HTTP."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import trustme

from tagtrail.times import format_timestamp
from tests.client.helpers import (
    Result,
    assert_one_line_error,
    db_history,
    docker_config,
    push_moves,
    run_cli,
)
from tests.server import RunningServer, start_server
from tests.ssl_context import SHARED

PASSWORD = "client-tls-admin-password"
NAME, TAG = "tls/app", "prod"


@dataclass(frozen=True)
class TlsRegistry:
    server: RunningServer
    ca_bundle: Path
    digests: list[str]

    @property
    def ref(self) -> str:
        return f"{self.server.host}/{NAME}:{TAG}"


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsRegistry]:
    work = tmp_path_factory.mktemp("client-tls")
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    cert, key, bundle = work / "server.pem", work / "server.key", work / "ca.pem"
    cert.write_bytes(b"".join(pem.bytes() for pem in leaf.cert_chain_pems))
    leaf.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(bundle))
    server = start_server(
        work / "data",
        "--auth",
        "--tls-cert",
        str(cert),
        "--tls-key",
        str(key),
        env={"TAGTRAIL_ADMIN_PASSWORD": PASSWORD},
    )
    verify = ssl.create_default_context(cafile=bundle)
    token = httpx.get(
        f"{server.url}/token",
        params={"scope": f"repository:{NAME}:pull,push,delete"},
        auth=("admin", PASSWORD),
        verify=verify,
    ).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.url, timeout=30, verify=verify, headers=headers) as client:
        digests = push_moves(client, NAME, TAG, 3)
    yield TlsRegistry(server, bundle, digests)
    server.stop()


@pytest.fixture(scope="module")
def plain(registry: RunningServer) -> RunningServer:
    """The package's registry without TLS, with NAME:TAG moved twice."""
    with httpx.Client(base_url=registry.url, timeout=30, verify=SHARED) as client:
        push_moves(client, NAME, TAG, 2)
    return registry


def trusting(tls: TlsRegistry, tmp_path: Path) -> dict[str, str | None]:
    """An environment that trusts the test CA and holds the admin's credentials."""
    auths = {tls.server.host: {"username": "admin", "password": PASSWORD}}
    localhost = tls.server.host.replace("127.0.0.1", "localhost")
    auths[localhost] = auths[tls.server.host]
    return {
        "SSL_CERT_FILE": str(tls.ca_bundle),
        **docker_config(tmp_path / "docker", {"auths": auths}),
    }


def records(result: Result) -> list[dict[str, str]]:
    """The listed records' time, digest and event (who moved the tag, which these registries
    tell every caller, as auth is off or the caller is the admin, is not these tests' point)."""
    keys = ("updateTimestamp", "digest", "event")
    return [{key: record[key] for key in keys} for record in result.json()]


def expected(server: RunningServer) -> list[dict[str, str]]:
    return [
        {"updateTimestamp": format_timestamp(r.ts_ms), "digest": r.digest, "event": r.event}
        for r in db_history(server, NAME, TAG)
    ][::-1]


def test_history_speaks_https_to_a_loopback_registry(tls: TlsRegistry, tmp_path: Path) -> None:
    env = trusting(tls, tmp_path)
    result = run_cli("history", tls.ref, "-o", "json", env=env)
    assert result.code == 0, result.err
    assert records(result) == expected(tls.server)
    localhost = tls.ref.replace("127.0.0.1", "localhost")
    by_name = run_cli("history", localhost, "-o", "json", env=env)
    assert by_name.code == 0, by_name.err
    assert records(by_name) == expected(tls.server)
    ipv4 = run_cli("history", f"https://{tls.ref}", "-o", "json", env=env)
    assert records(ipv4) == expected(tls.server)


def test_pin_restore_login_and_auth_token_over_tls(tls: TlsRegistry, tmp_path: Path) -> None:
    env = trusting(tls, tmp_path)
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(f"FROM {tls.ref}\n")
    pinned = run_cli("pin", str(dockerfile), env=env)
    assert pinned.code == 0, pinned.err
    assert dockerfile.read_text() == f"FROM {tls.ref}@{tls.digests[-1]}\n"
    restored = run_cli("restore", tls.ref, "--to", tls.digests[0], env=env)
    assert restored.code == 0, restored.err
    assert restored.out == f"{tls.ref}: {tls.digests[-1]} -> {tls.digests[0]}\n"
    back = run_cli("restore", tls.ref, "--to", tls.digests[-1], env=env)
    assert back.code == 0, back.err
    token = run_cli("auth", "token", tls.ref, env=env)
    assert token.code == 0, token.err
    answer = httpx.get(
        f"{tls.server.url}/v2/{NAME}/tags/list",
        headers={"Authorization": f"Bearer {token.out.strip()}"},
        verify=ssl.create_default_context(cafile=tls.ca_bundle),
    )
    assert answer.status_code == 200, answer.text
    login_env = {"SSL_CERT_FILE": str(tls.ca_bundle), **docker_config(tmp_path / "login", {})}
    login = run_cli(
        "login", tls.server.host, "-u", "admin", "--password-stdin", env=login_env, stdin=PASSWORD
    )
    assert login.code == 0, login.err
    stored = json.loads((tmp_path / "login" / "config.json").read_text())
    assert tls.server.host in stored["auths"]
    refused = run_cli(
        "login", tls.server.host, "-u", "admin", "--password-stdin", env=login_env, stdin="wrong"
    )
    assert_one_line_error(refused, "refused")


def test_an_untrusted_certificate_is_one_line_and_never_falls_back(
    tls: TlsRegistry, tmp_path: Path
) -> None:
    env = {**trusting(tls, tmp_path), "SSL_CERT_FILE": None}
    for args in (
        ("history", tls.ref),
        ("auth", "token", tls.ref),
        ("restore", tls.ref, "--to", tls.digests[0]),
    ):
        result = run_cli(*args, env=env)
        # Falling back to plain HTTP would have answered "illegal request line" or the like.
        assert_one_line_error(
            result,
            f"cannot reach https://{tls.server.host}: its TLS certificate is not trusted",
            "use --insecure to skip the check, or point SSL_CERT_FILE at its CA certificate",
        )
        assert "plain HTTP" not in result.err
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(f"FROM {tls.ref}\n")
    assert_one_line_error(run_cli("pin", str(dockerfile), env=env), "not trusted", "--insecure")
    insecure = run_cli("history", tls.ref, "-o", "json", "--insecure", env=env)
    assert insecure.code == 0, insecure.err
    assert records(insecure) == expected(tls.server)


def test_plain_http_to_a_tls_registry_is_said_in_words(tls: TlsRegistry, tmp_path: Path) -> None:
    env = trusting(tls, tmp_path)
    for args in (("--plain-http", tls.ref), (f"http://{tls.ref}",)):
        result = run_cli("history", *args, env=env)
        assert_one_line_error(
            result,
            f"cannot reach http://{tls.server.host}: the registry answered TLS, not plain HTTP",
            f"use https://{tls.server.host}/... and leave out --plain-http",
        )


def test_a_plain_loopback_registry_without_flags_and_https_to_it(
    plain: RunningServer, tmp_path: Path
) -> None:
    ref = f"{plain.host}/{NAME}:{TAG}"
    result = run_cli("history", ref, "-o", "json")
    assert result.code == 0, result.err
    assert records(result) == expected(plain)
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(f"FROM {ref}\n")
    assert run_cli("pin", str(dockerfile)).code == 0
    assert dockerfile.read_text() == f"FROM {ref}@{expected(plain)[0]['digest']}\n"
    for args in ((f"https://{ref}",), (f"https://{ref}", "--insecure")):
        assert_one_line_error(
            run_cli("history", *args),
            f"cannot reach https://{plain.host}: the registry answered plain HTTP, not TLS",
            f"use http://{plain.host}/... or --plain-http",
        )
