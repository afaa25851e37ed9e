"""``tagtrail serve``: settings from flags, TAGTRAIL_* environment and a TOML file."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.reliability.crashes import descendants
from tests.server import free_port, start_server


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
            return httpx.get(f"{url}/v2/", timeout=1)
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
