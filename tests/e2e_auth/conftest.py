"""Fixtures for the end-to-end tests with real clients against tagtrail with auth on."""

from __future__ import annotations

import json
import os
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
import trustme

from tests.e2e_auth.world import TlsWorld, World, start_world


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One seeded auth-enabled registry over plain HTTP for the session."""
    seeded = start_world(tmp_path_factory.mktemp("auth-http"))
    yield seeded
    seeded.server.stop()


@pytest.fixture(scope="session")
def tls_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsWorld]:
    """A seeded auth-enabled registry over HTTPS, its certificate from a throwaway CA."""
    work = tmp_path_factory.mktemp("auth-tls")
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1")
    cert, key, bundle = work / "server.pem", work / "server.key", work / "ca.pem"
    cert.write_bytes(b"".join(pem.bytes() for pem in leaf.cert_chain_pems))
    leaf.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(bundle))
    seeded = start_world(work, "--tls-cert", str(cert), "--tls-key", str(key), ca_bundle=bundle)
    yield TlsWorld(seeded, bundle)
    seeded.server.stop()


@pytest.fixture(scope="session")
def policy_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A containers trust policy accepting anything, as there may be no system one."""
    path = tmp_path_factory.mktemp("containers") / "policy.json"
    path.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
    return path


@pytest.fixture
def client_env(tmp_path: Path) -> dict[str, str]:
    """An environment in which no client finds credentials saved outside this test (the
    containers tools also read $XDG_CONFIG_HOME/containers/auth.json and $DOCKER_CONFIG)."""
    home = tmp_path / "client-home"
    (home / "docker").mkdir(parents=True)
    (home / "auth.json").write_text('{"auths": {}}')
    return {
        **os.environ,
        "REGISTRY_AUTH_FILE": str(home / "auth.json"),
        "DOCKER_CONFIG": str(home / "docker"),
        "XDG_CONFIG_HOME": str(home / "config"),
    }


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """On failure, show the tail of the registry's log next to the clients' output."""
    report = yield
    funcargs = getattr(item, "funcargs", {})
    found = funcargs.get("world") or getattr(funcargs.get("tls_world"), "world", None)
    if report.failed and isinstance(found, World):
        tail = "\n".join(found.server.log().splitlines()[-60:])
        report.sections.append(("tagtrail server log (tail)", tail))
    return report
