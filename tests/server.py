"""A real tagtrail server process on 127.0.0.1, for tests."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class RunningServer:
    data_dir: Path
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    extra_args: list[str] = field(default_factory=list)

    @property
    def host(self) -> str:
        """host:port, as image references and skopeo/oras want it."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        scheme = "https" if "--tls-cert" in self.extra_args else "http"
        return f"{scheme}://{self.host}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        """Stop the server and every process it started, and return once none of them runs.

        A prefix such as faketime forks the server, and signalling only the prefix left the
        server running, holding its port and files through later tests and benchmarks. So
        each process of the group but the server's workers gets SIGTERM (the prefix and the
        server; a worker told to stop before its server could wait for it forever), and
        whatever still runs after 10 s gets SIGKILL."""
        group = self.process.pid
        for pid in top_processes(group):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        for patience in (10.0, 10.0):
            deadline = time.monotonic() + patience
            while time.monotonic() < deadline:
                self.process.poll()  # reaps the leader; the others are their parents' to reap
                if not running_in_group(group):
                    self.process.wait()
                    return
                time.sleep(0.05)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
        raise RuntimeError(f"processes {running_in_group(group)} survived SIGKILL")


def members(group: int) -> dict[int, tuple[int, str, bytes]]:
    """{pid: (parent pid, state, command line)} of the processes in process group ``group``."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue  # gone meanwhile
        if int(fields[3]) == group:
            found[int(entry.name)] = (int(fields[1]), fields[0], command)
    return found


def top_processes(group: int) -> list[int]:
    """The processes of group ``group`` that are not server workers (a prefix such as
    faketime, and the server): a worker is forked, so it has its parent's command line."""
    found = members(group)
    return [
        pid
        for pid, (parent, _, command) in found.items()
        if parent not in found or found[parent][2] != command
    ]


def running_in_group(group: int) -> list[int]:
    """Processes of process group ``group`` that still run (zombies do not count)."""
    return [pid for pid, (_, state, _) in members(group).items() if state not in ("Z", "X")]


# What `tagtrail serve` says when its address is bound by anything else.
PORT_TAKEN = "address already in use"
_PORT_ATTEMPTS = 5


class PortTaken(RuntimeError):
    """The server refused to start: something else listens on its port."""


def start_server(
    data_dir: Path,
    *extra_args: str,
    timeout: float = 30,
    env: dict[str, str] | None = None,
    prefix: tuple[str, ...] = (),
    port: int | None = None,
) -> RunningServer:
    """Start ``tagtrail serve``; without ``--auth`` among the flags it runs with ``--no-auth``.

    On ``port`` if given: PortTaken if something (a server of an earlier start?) listens
    there. Else on a free port, and on another one when a test running beside took it
    between free_port() and the server's bind."""
    for _ in range(_PORT_ATTEMPTS):
        try:
            return _start(data_dir, extra_args, timeout, env, prefix, port or free_port())
        except PortTaken:
            if port is not None:
                raise
    raise PortTaken(f"{_PORT_ATTEMPTS} free ports in a row were taken before the server bound")


def _start(
    data_dir: Path,
    extra_args: tuple[str, ...],
    timeout: float,
    env: dict[str, str] | None,
    prefix: tuple[str, ...],
    port: int,
) -> RunningServer:
    if "--auth" not in extra_args:
        extra_args = ("--no-auth", *extra_args)
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir.parent / f"{data_dir.name}-server.log"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TAGTRAIL_")},
        **(env or {}),
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                *prefix,  # e.g. faketime, to run a replica on a skewed clock
                sys.executable,
                "-m",
                "tagtrail",
                "serve",
                "--listen",
                f"127.0.0.1:{port}",
                "--data-dir",
                str(data_dir),
                *extra_args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # its own process group: stop() ends all of it
        )
    server = RunningServer(data_dir, port, process, log_path, list(extra_args))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            if PORT_TAKEN in server.log():
                raise PortTaken(f"port {port} is taken:\n{server.log()}")
            raise RuntimeError(f"tagtrail exited with {process.returncode}:\n{server.log()}")
        try:
            # Any answer means it serves (401 with auth on); readiness is not a TLS check.
            ready = httpx.get(f"{server.url}/v2/", timeout=1, verify=False)  # noqa: S501
            if ready.status_code < 500:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.02)  # a start takes about a second: each 0.1 s of polling cost 5% of it
    server.stop()
    raise RuntimeError(f"tagtrail did not answer within {timeout}s:\n{server.log()}")


@contextlib.contextmanager
def memory_dir(fallback: Path) -> Iterator[Path]:
    """A directory in memory (/dev/shm) where there is one, else ``fallback``; removed after.

    For registries whose tests are about what they answer, not about the disk: on tmpfs an
    fsync costs nothing, so seeding thousands of tag moves (each commit waits for the disk)
    takes a fraction of the time. Durability and direct I/O are tested on a real disk
    (tests/blobs, tests/reliability)."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield fallback
        return
    directory = Path(tempfile.mkdtemp(prefix="tagtrail-test-", dir=shm))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)
