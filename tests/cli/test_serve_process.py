"""``tagtrail serve``'s processes: workers die with a killed server, one server per address,
SIGTERM ends it at once (cli/serve_process.py)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

import tests.server
from tagtrail.cli.serve_process import DRAIN_SECONDS
from tests.cli.test_serve import serve, wait_ready
from tests.reliability.crashes import answers, descendants
from tests.server import PORT_TAKEN, PortTaken, free_port, running_in_group, start_server
from tests.ssl_context import SHARED


def _gone_within(seconds: float, group: int, port: int) -> bool:
    """Whether, within ``seconds``, no process of ``group`` runs and nothing answers on
    ``port``."""
    deadline = time.monotonic() + seconds
    while running_in_group(group) or answers(port):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_workers_of_a_killed_server_stop_serving_and_a_restart_serves_alone(
    tmp_path: Path,
) -> None:
    """kill -9 of the main process left its worker answering, and a restart (here with auth
    on) shared the port with it, the orphan serving everything to everyone."""
    open_server = start_server(tmp_path / "data", "--workers", "2")
    workers = set(descendants(open_server.process.pid)) - {open_server.process.pid}
    assert len(workers) == 2
    assert httpx.get(f"{open_server.url}/v2/", verify=SHARED).status_code == 200

    open_server.process.kill()
    open_server.process.wait()
    try:
        gone = _gone_within(2.0, open_server.process.pid, open_server.port)
        assert gone, running_in_group(open_server.process.pid)
    finally:  # no orphan left to serve through later tests, even when this fails
        open_server.stop()

    guarded = start_server(tmp_path / "data", "--auth", port=open_server.port)
    try:
        # A new connection each time: any process may accept.
        with httpx.Client(verify=SHARED) as client:
            statuses = {
                client.get(f"{guarded.url}/v2/", headers={"Connection": "close"}).status_code
                for _ in range(30)
            }
        assert statuses == {401}
    finally:
        guarded.stop()


def _serve(port: int, data_dir: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TAGTRAIL_")}
    listen = ["--listen", f"127.0.0.1:{port}", "--data-dir", str(data_dir)]
    return subprocess.run(
        [sys.executable, "-m", "tagtrail", "serve", *listen, *flags],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env=clean,
    )


def _refused_busy_port(result: subprocess.CompletedProcess[str], port: int) -> None:
    assert result.returncode == 1, result
    assert result.stderr.splitlines() == [
        f"tagtrail: cannot listen on 127.0.0.1:{port}: {PORT_TAKEN} "
        "(is another server running there?)"
    ]
    # Refused before anything started: no address, no admin password, no worker.
    assert result.stdout == ""


def test_a_second_server_on_a_busy_port_exits_naming_the_address(tmp_path: Path) -> None:
    first = start_server(tmp_path / "first")
    try:
        second = _serve(first.port, tmp_path / "second", "--auth")
        _refused_busy_port(second, first.port)
        # The first serves on, alone.
        assert httpx.get(f"{first.url}/v2/", verify=SHARED).status_code == 200

        # That start created no admin (whose password nobody would have seen): the next
        # start of that data directory does, and prints its password.
        again = start_server(tmp_path / "second", "--auth")
        again.stop()
        assert "created user admin; its password (shown only this once): " in again.log()
    finally:
        first.stop()


def test_a_port_that_another_program_listens_on_with_so_reuseport_is_refused(
    tmp_path: Path,
) -> None:
    """granian's workers bind with SO_REUSEPORT, so they joined any listener that had it."""
    with socket.socket() as other:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        _refused_busy_port(_serve(port, tmp_path / "data"), port)


def _stop_with_sigterm(tmp_path: Path, connect: bool) -> float:
    server = start_server(tmp_path / f"data-{connect}")
    with socket.create_connection(("127.0.0.1", server.port)) as half_sent:
        if connect:  # a request head that is never finished: it held a worker for 30 s
            half_sent.sendall(b"GET /v2/ HTTP/1.1\r\nHost: registry\r\n")
            time.sleep(0.2)
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        try:
            assert _gone_within(10.0, server.process.pid, server.port)
        finally:
            server.stop()
        return time.monotonic() - started


def test_sigterm_stops_the_server_within_2_seconds(tmp_path: Path) -> None:
    """Idle, at once; with a client stuck in its request, after the drain (that took the
    header timeout, 30 s: granian waits for every connection)."""
    assert _stop_with_sigterm(tmp_path, connect=False) < 2.0
    assert _stop_with_sigterm(tmp_path, connect=True) < DRAIN_SECONDS + 2.0


def test_the_child_migrating_a_first_start_dies_with_a_killed_server(tmp_path: Path) -> None:
    """A first start migrates in a child process (cli/serve_migrate.py); held here by the
    database's write lock, it must not go on after a kill -9 of the server."""
    data = tmp_path / "data"
    data.mkdir()
    holder = sqlite3.connect(data / "tagtrail.db", isolation_level=None)
    holder.execute("PRAGMA journal_mode=WAL")  # the server's mode: its reads are not blocked
    holder.execute("BEGIN IMMEDIATE")  # its migration waits for this lock (up to 30 s)
    args = ["--no-auth", "--listen", f"127.0.0.1:{free_port()}", "--data-dir", str(data)]
    try:
        with serve(args, {}, tmp_path / "log") as server:
            child = _migrating_child(server.pid, 20.0)
            assert child is not None, (tmp_path / "log").read_text()
            server.kill()
            server.wait()
            deadline = time.monotonic() + 2
            while _alive(child):
                assert time.monotonic() < deadline, "the migrating child outlived the server"
                time.sleep(0.02)
    finally:
        holder.rollback()
        holder.close()


def _migrating_child(server: int, seconds: float) -> int | None:
    """The pid of ``server``'s migrating child, once it runs (within ``seconds``)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for pid in descendants(server):
            with contextlib.suppress(OSError):
                if b"serve_migrate" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    return pid
        time.sleep(0.05)
    return None


def test_a_worker_whose_server_died_before_it_asked_to_die_with_it_exits() -> None:
    """The request to be killed with the parent does nothing if the parent is gone already;
    the worker then has another parent, and must not start."""
    code = (
        "from tagtrail.cli.parent_death import die_with_parent\n"
        "die_with_parent(999_999_999)  # not the parent of this process\n"
        "print('started')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=False
    )
    assert (result.returncode, result.stdout, result.stderr) == (1, "", "")


def test_the_watchdog_kills_a_process_whose_parent_is_gone() -> None:
    """What stands in for PR_SET_PDEATHSIG off Linux: a child watching its parent, which
    exits (without killing it) at once."""
    code = (
        "import os, time\n"
        "from tagtrail.cli.parent_death import watch_parent\n"
        "parent = os.getpid()\n"
        "child = os.fork()\n"
        "if child:\n"
        "    print(child, flush=True)\n"
        "    os._exit(0)\n"
        "os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # the test reads the parent's output\n"
        "watch_parent(parent, 0.05)\n"
        "time.sleep(30)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=False
    )
    child = int(result.stdout)
    deadline = time.monotonic() + 2
    while _alive(child):
        assert time.monotonic() < deadline, f"process {child} outlived its parent"
        time.sleep(0.02)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def test_a_host_name_is_a_listen_address(tmp_path: Path) -> None:
    """granian took only IP addresses ("localhost:5000" ended in a traceback)."""
    port = free_port()
    args = ["--listen", f"localhost:{port}", "--data-dir", str(tmp_path / "data"), "--no-auth"]
    log = tmp_path / "serve.log"
    with serve(args, {}, log) as process:
        assert wait_ready(f"http://localhost:{port}", process, log).status_code == 200
        assert f"listening on http://localhost:{port}" in log.read_text()


def test_the_test_helper_names_a_taken_port_and_moves_on_from_a_raced_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """tests/server.py: a given port that is taken is an error that says so; a free port
    that another test took before the server bound it is replaced by another."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        busy = other.getsockname()[1]
        with pytest.raises(PortTaken, match=f"port {busy} is taken"):
            start_server(tmp_path / "data", port=busy)

        ports = iter([busy, free_port()])
        monkeypatch.setattr(tests.server, "free_port", lambda: next(ports))
        server = start_server(tmp_path / "data")
        server.stop()
        assert server.port != busy
