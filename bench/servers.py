"""The servers a benchmark run compares: tagtrail, CNCF Distribution, and nginx as a ceiling.

Each runs on 127.0.0.1 with storage in a temporary directory and error-level logging.
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tagtrail.challenges import parse_challenge


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    login: tuple[str, str] | None = None  # the admin's, where auth is on

    @property
    def basic(self) -> dict[str, str]:
        """An Authorization header for setup requests (empty without auth)."""
        if self.login is None:
            return {}
        encoded = base64.b64encode(":".join(self.login).encode()).decode()
        return {"Authorization": f"Basic {encoded}"}

    def pull_headers(self, repository: str) -> dict[str, str]:
        """What a pulling client sends with each request: without auth nothing; with auth a
        bearer token for ``repository`` from the registry's /token, as docker gets one."""
        if self.login is None:
            return {}
        challenge = parse_challenge(
            httpx.get(f"{self.url}/v2/", timeout=30).headers["www-authenticate"]
        )
        assert challenge is not None
        fields = challenge.params
        answer = httpx.get(
            fields["realm"],
            params={"service": fields["service"], "scope": f"repository:{repository}:pull"},
            auth=self.login,
            timeout=30,
        )
        answer.raise_for_status()
        return {"Authorization": f"Bearer {answer.json()['token']}"}

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def rss_bytes(self) -> int:
        """Resident memory of the server and all its processes (workers included)."""
        return sum(_rss(pid) for pid in _tree(self.process.pid))

    def pss_bytes(self) -> int:
        """Proportional set size of the server's processes: each page shared by forked
        workers counted once in all, where summed RSS counts it once per process."""
        return sum(_pss(pid) for pid in _tree(self.process.pid))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _tree(pid: int) -> list[int]:
    found = [pid]
    for child in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = child.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found += _tree(int(child.parent.name))
    return found


def _rss(pid: int) -> int:
    return _kilobytes(f"/proc/{pid}/status", "VmRSS:") * 1024


def _pss(pid: int) -> int:
    return _kilobytes(f"/proc/{pid}/smaps_rollup", "Pss:") * 1024


def _kilobytes(path: str, field: str) -> int:
    """A ``field: N kB`` line of a /proc file (0 when the process is gone)."""
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _wait(server: Server, path: str = "/v2/") -> Server:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited with {server.process.returncode}")
        try:
            httpx.get(f"{server.url}{path}", timeout=1)
            return server
        except httpx.TransportError:
            time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"{server.name} did not start")


def start_tagtrail(
    data: Path, workers: int, *, auth: bool = False, env: dict[str, str] | None = None
) -> Server:
    """tagtrail on a free port, without auth unless asked (``env`` adds TAGTRAIL_* settings);
    with auth, an admin with a random password (``Server.login``)."""
    port = free_port()
    login = ("admin", secrets.token_urlsafe(16)) if auth else None
    if login is not None:
        env = {**(env or {}), "TAGTRAIL_ADMIN_PASSWORD": login[1]}
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TAGTRAIL_")}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tagtrail",
            "serve",
            "--auth" if auth else "--no-auth",
            "--listen",
            f"127.0.0.1:{port}",
            "--data-dir",
            str(data),
            "--workers",
            str(workers),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**clean, "TAGTRAIL_LOG_LEVEL": "error", **(env or {})},
    )
    return _wait(Server("tagtrail", process, port, login))


def start_distribution(data: Path) -> Server:
    port = free_port()
    config = data / "config.yml"
    data.mkdir(parents=True, exist_ok=True)
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: error\n  accesslog:\n    disabled: true\n"
        "storage:\n  filesystem:\n"
        f"    rootdirectory: {data / 'storage'}\n"
        "  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    process = subprocess.Popen(
        ["docker-registry", "serve", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return _wait(Server("distribution", process, port))


def start_nginx(root: Path, work: Path) -> Server:
    """nginx serving ``root`` as static files: the ceiling for answering small bodies."""
    port = free_port()
    work.mkdir(parents=True, exist_ok=True)
    config = work / "nginx.conf"
    config.write_text(
        f"worker_processes {os.cpu_count() or 1};\n"
        f"pid {work / 'nginx.pid'};\nerror_log {work / 'error.log'} error;\n"
        "daemon off;\nevents { worker_connections 4096; }\n"
        "http {\n  access_log off;\n  sendfile on;\n  keepalive_requests 1000000;\n"
        f"  client_body_temp_path {work};\n  proxy_temp_path {work};\n"
        f"  fastcgi_temp_path {work};\n  uwsgi_temp_path {work};\n  scgi_temp_path {work};\n"
        f"  server {{\n    listen 127.0.0.1:{port};\n    root {root};\n"
        "    default_type application/vnd.oci.image.manifest.v1+json;\n  }\n}\n"
    )
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    process = subprocess.Popen(
        [nginx, "-c", str(config), "-p", str(work)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return _wait(Server("nginx", process, port), "/manifest")


def start_noop(body: Path, workers: int) -> Server:
    """bench/noop_app.py under granian as tagtrail runs it (ASGI, uvloop, ``workers``)."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "granian",
            "--interface",
            "asgi",
            "--loop",
            "uvloop",
            "--http",
            "1",
            "--workers",
            str(workers),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "error",
            "bench.noop_app:app",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "TAGTRAIL_BENCH_BODY": str(body)},
        cwd=Path(__file__).parent.parent,
    )
    return _wait(Server("granian, do-nothing ASGI app", process, port), "/manifest")
