"""``tagtrail serve``: settings from flags, TAGTRAIL_* environment and a TOML file; a start
that cannot serve (database, TLS files, address) says why in one line."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import trustme
from cryptography.hazmat.primitives import serialization

from tests.postgres import ADMIN_URL
from tests.reliability.crashes import descendants
from tests.server import free_port, start_server
from tests.ssl_context import SHARED


@contextmanager
def serve(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TAGTRAIL_")}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "tagtrail", "serve", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**clean, **env},
        )
    try:
        yield process
    finally:
        process.terminate()
        process.wait(timeout=10)


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> httpx.Response:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            return httpx.get(f"{url}/v2/", timeout=1, verify=SHARED)
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"no answer from {url}:\n{log.read_text()}")


def test_toml_file_sets_listen_and_data_dir_and_address_is_printed(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "tagtrail.toml"
    data = tmp_path / "from-toml"
    config.write_text(f'listen = "127.0.0.1:{port}"\ndata_dir = "{data}"\n')
    log = tmp_path / "serve.log"
    with serve(["--config", str(config)], {}, log) as process:
        response = wait_ready(f"http://127.0.0.1:{port}", process, log)
        # Auth is on by default: /v2/ sends the client to the token endpoint.
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == (
            f'Bearer realm="http://127.0.0.1:{port}/token",service="tagtrail"'
        )
        assert response.headers["docker-distribution-api-version"] == "registry/2.0"
        output = log.read_text()
        assert f"listening on http://127.0.0.1:{port}" in output
        assert "created user admin; its password (shown only this once): " in output
        assert (data / "tagtrail.db").exists()
        assert (data / "keys" / "signing.pem").stat().st_mode & 0o077 == 0


def test_environment_overrides_file_and_flags_override_environment(tmp_path: Path) -> None:
    file_port, env_port, flag_port = free_port(), free_port(), free_port()
    config = tmp_path / "tagtrail.toml"
    config.write_text(f'listen = "127.0.0.1:{file_port}"\ndata_dir = "{tmp_path / "d"}"\n')
    log = tmp_path / "env.log"
    env = {"TAGTRAIL_LISTEN": f"127.0.0.1:{env_port}"}
    with serve(["--config", str(config)], env, log) as process:
        assert wait_ready(f"http://127.0.0.1:{env_port}", process, log).status_code == 401
    log = tmp_path / "flag.log"
    with serve(
        ["--config", str(config), "--listen", f"127.0.0.1:{flag_port}", "--no-auth"], env, log
    ) as process:
        assert wait_ready(f"http://127.0.0.1:{flag_port}", process, log).status_code == 200


def test_bad_settings_are_one_clear_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tagtrail", "serve", "--listen", "nonsense"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "listen must be host:port" in result.stderr
    assert "Traceback" not in result.stderr
    missing = subprocess.run(
        [sys.executable, "-m", "tagtrail", "serve", "--config", str(tmp_path / "none.toml")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert missing.returncode == 2
    assert "config file not found" in missing.stderr
    verbose = subprocess.run(
        [sys.executable, "-m", "tagtrail", "serve", "--data-dir", str(tmp_path / "data")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={**os.environ, "TAGTRAIL_LOG_LEVEL": "verbose"},
    )
    assert verbose.returncode == 2
    assert "TAGTRAIL_LOG_LEVEL=verbose: input should be" in verbose.stderr
    assert len(verbose.stderr.splitlines()) == 1, verbose.stderr


def _running(pid: int) -> str | None:
    """The state of a process that still runs (not a zombie), else None."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None
    return None if state in ("Z", "X") else state


def test_stopping_a_server_started_under_faketime_ends_all_its_processes(
    tmp_path: Path,
) -> None:
    """faketime forks the server: the test helper must stop the server and its workers too,
    not only the wrapper, or they keep running (and holding ports) through later tests."""
    server = start_server(tmp_path / "data", "--workers", "2", prefix=("faketime", "-f", "-1h"))
    started = descendants(server.process.pid)
    assert len(started) >= 3  # the wrapper or server, granian's main process, two workers
    server.stop()
    assert {pid: _running(pid) for pid in started if _running(pid)} == {}


def _start_fails(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None, user: tuple[str, ...] = ()
) -> str:
    """Run a ``tagtrail serve`` that must not start: exit 1, no traceback, nothing printed
    but the one line it returns (no address, no admin password)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TAGTRAIL_")}
    data_dir = ("--data-dir", str(tmp_path / "data"))
    result = subprocess.run(
        [*user, sys.executable, "-m", "tagtrail", "serve", "--auth", *args, *data_dir],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**clean, **(env or {})},
        cwd="/",
    )
    assert (result.returncode, result.stdout) == (1, ""), result
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_an_unreachable_database_is_one_line_naming_it(tmp_path: Path) -> None:
    port = free_port()
    url = f"postgresql://tagtrail:secret@127.0.0.1:{port}/registry"
    line = _start_fails(tmp_path, env={"TAGTRAIL_DATABASE_URL": url})
    assert line.startswith(
        f"tagtrail: cannot use the database postgresql://tagtrail:***@127.0.0.1:{port}/registry: "
    )
    assert "Connect call failed" in line


def test_a_missing_postgresql_database_is_one_line(tmp_path: Path) -> None:
    url = f"{ADMIN_URL.rpartition('/')[0]}/tagtrail_missing_{uuid.uuid4().hex[:8]}"
    line = _start_fails(tmp_path, env={"TAGTRAIL_DATABASE_URL": url})
    assert line.startswith(f"tagtrail: cannot use the database {url}: ")
    assert line.endswith("does not exist")


def test_a_migration_that_fails_is_one_line(tmp_path: Path) -> None:
    """The schema is migrated by a child process (cli/serve_migrate.py): its failure too."""
    (tmp_path / "data").mkdir()
    with sqlite3.connect(tmp_path / "data" / "tagtrail.db") as db:
        db.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        db.execute("INSERT INTO alembic_version VALUES ('9999')")  # a later version's
    line = _start_fails(tmp_path)
    assert line == (
        "tagtrail: migrating the database failed: Can't locate revision identified by '9999'"
    )


def test_unusable_tls_files_are_one_line_naming_the_file(tmp_path: Path) -> None:
    ca = trustme.CA()
    ours, other = ca.issue_cert("127.0.0.1"), ca.issue_cert("127.0.0.1")
    cert, key = tmp_path / "server.pem", tmp_path / "server.key"
    ours.cert_chain_pems[0].write_to_path(str(cert))
    other.private_key_pem.write_to_path(str(key))  # a key, but not this certificate's
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a PEM file\n")
    private = serialization.load_pem_private_key(ours.private_key_pem.bytes(), password=None)
    encrypted = tmp_path / "encrypted.key"
    encrypted.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase"),
        )
    )
    missing = tmp_path / "missing.pem"

    def tls(cert_file: Path, key_file: Path) -> str:
        return _start_fails(tmp_path, "--tls-cert", str(cert_file), "--tls-key", str(key_file))

    assert tls(missing, key) == (
        f"tagtrail: cannot read the TLS certificate {missing}: no such file or directory"
    )
    assert tls(cert, missing) == (
        f"tagtrail: cannot read the TLS key {missing}: no such file or directory"
    )
    assert tls(garbage, key) == f"tagtrail: the TLS certificate {garbage} holds no PEM certificate"
    assert tls(cert, garbage) == f"tagtrail: the TLS key {garbage} holds no PEM private key"
    assert tls(cert, encrypted) == (
        f"tagtrail: the TLS key {encrypted} is encrypted; serve needs it unencrypted"
    )
    assert tls(cert, key) == (
        f"tagtrail: the TLS key {key} is not the key of the certificate {cert}"
    )


def test_an_address_that_cannot_be_bound_is_one_line(tmp_path: Path) -> None:
    assert _start_fails(tmp_path, "--listen", "192.0.2.1:5000") == (
        "tagtrail: cannot listen on 192.0.2.1:5000: cannot assign requested address"
    )
    assert _start_fails(tmp_path, "--listen", "no-such-host.invalid:5000").startswith(
        "tagtrail: cannot listen on no-such-host.invalid:5000: unknown host"
    )
    # A privileged port, as a user who may not bind it (root drops to nobody for this).
    if int(Path("/proc/sys/net/ipv4/ip_unprivileged_port_start").read_text()) <= 80:
        pytest.skip("every user may bind port 80 on this machine")
    nobody = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")
    user = nobody if os.geteuid() == 0 else ()
    assert _start_fails(tmp_path, "--listen", "127.0.0.1:80", user=user) == (
        "tagtrail: cannot listen on 127.0.0.1:80: permission denied"
    )


def test_port_0_listens_on_a_free_port_and_prints_it(tmp_path: Path) -> None:
    log = tmp_path / "log"
    args = ["--listen", "127.0.0.1:0", "--no-auth", "--data-dir", str(tmp_path / "data")]
    with serve(args, {}, log) as p:
        deadline = time.monotonic() + 30
        while "listening on" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        printed = re.search(r"listening on (http://127\.0\.0\.1:(\d+)) ", log.read_text())
        assert printed is not None, log.read_text()
        assert int(printed.group(2)) != 0
        assert wait_ready(printed.group(1), p, log).status_code == 200
