"""Ceph's RADOS Gateway on 127.0.0.1: real S3 for the tests, without systemd.

One monitor, one OSD keeping its objects in memory (memstore) and one radosgw, from Debian's
``ceph-mon``, ``ceph-osd`` and ``radosgw`` (``scripts/test`` installs them); ready in about 2 s,
some 135 MiB idle. Three settings make it work (the recipe measured them):

- ``ms mon client mode = crc`` for radosgw: with auth off, its default (``secure``) cannot be
  had and it loops on an authentication error;
- ``tcp_nodelay=1`` on the beast frontend: otherwise each request stalls 40-50 ms on delayed
  ACKs;
- fast paxos (``paxos propose interval``, ``paxos min wait``): radosgw creates its pools at
  start, one monitor round each, and the default batching makes the start take 15 s.

There is no ceph-mgr: the ``ceph`` commands that need one hang, and none is used here.

Each start has its own ports (free ones) and its own directory under ``$TMPDIR/tagtrail-rgw``
(``<owner pid>-<its start time>-<random>``: configuration, pid files, logs). The daemons get
SIGKILL when the process that started them dies (``PR_SET_PDEATHSIG``), so a killed test run
leaves no gateway running; the directories such a run leaves are removed by the next start
(``_sweep``), after killing any daemon they name that still runs. A start that fails raises
one line naming the log to read, and keeps that directory for reading until the next run
sweeps it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.server import free_port

ACCESS_KEY = "tagtrail-test-access-key"
SECRET_KEY = "tagtrail-test-secret-key"
START_TIMEOUT = 60.0  # per step; a start takes about 2 s on an idle machine
DAEMONS = ("ceph-mon", "ceph-osd", "radosgw")
_PR_SET_PDEATHSIG = 1


class GatewayFailed(RuntimeError):
    """The gateway did not start: the message is one line naming the log to read."""


@dataclass(frozen=True)
class Gateway:
    url: str
    base: Path  # configuration, pid files and logs of this gateway

    @property
    def logs(self) -> Path:
        return self.base / "logs"


def root() -> Path:
    return Path(tempfile.gettempdir()) / "tagtrail-rgw"


@contextmanager
def rgw_gateway() -> Iterator[Gateway]:
    """A gateway for as long as the block runs; every daemon of it is killed on the way out."""
    missing = [
        name for name in (*DAEMONS, "ceph", "monmaptool", "radosgw-admin") if not _on_path(name)
    ]
    if missing:
        raise GatewayFailed(
            f"{', '.join(missing)} not installed: the S3 tests need Debian's ceph-mon, ceph-osd "
            "and radosgw (scripts/test installs them)"
        )
    _sweep(root())
    me = os.getpid()
    base = root() / f"{me}-{_start_time(me)}-{uuid.uuid4().hex[:8]}"
    cluster = _Cluster(base)
    try:
        url = cluster.start()
    except BaseException:
        cluster.kill()  # the directory stays: its logs say what went wrong
        raise
    try:
        yield Gateway(url, base)
    finally:
        cluster.kill()
        shutil.rmtree(base, ignore_errors=True)


class _Cluster:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.logs = base / "logs"
        self.pids = base / "pids"
        self.conf = base / "ceph.conf"
        self._processes: list[subprocess.Popen[bytes]] = []

    def start(self) -> str:
        for directory in ("run", "mon", "osd", "rgw", "logs", "pids"):
            (self.base / directory).mkdir(parents=True)
        rgw_port, v2_port, v1_port = free_port(), free_port(), free_port()
        fsid = str(uuid.uuid4())
        mon_host = f"[v2:127.0.0.1:{v2_port},v1:127.0.0.1:{v1_port}]"
        self.conf.write_text(_config(self.base, fsid, mon_host, rgw_port))

        self._run("monmaptool", "--create", "--fsid", fsid, "--addv", "a", mon_host,
                  str(self.base / "monmap"))  # fmt: skip
        self._run("ceph-mon", "--mkfs", "-i", "a", "--monmap", str(self.base / "monmap"))
        mon = self._spawn("mon.a", "ceph-mon", "-f", "-i", "a")
        self._wait("the monitor's quorum", mon, "mon.a", lambda: self._ceph_ok("mon", "stat"))

        osd_uuid = str(uuid.uuid4())
        osd_id = self._run("ceph", "--connect-timeout", "10", "osd", "new", osd_uuid).strip()
        (self.base / "osd" / f"ceph-{osd_id}").mkdir()
        self._run("ceph-osd", "-i", osd_id, "--mkfs", "--osd-uuid", osd_uuid)
        osd = self._spawn(f"osd.{osd_id}", "ceph-osd", "-f", "-i", osd_id)
        self._wait(f"osd.{osd_id} up", osd, f"osd.{osd_id}", lambda: self._osd_up(osd_id))

        rgw = self._spawn("rgw.a", "radosgw", "-f", "-n", "client.rgw.a")
        url = f"http://127.0.0.1:{rgw_port}"
        self._wait(f"radosgw on {url}", rgw, "client.rgw.a", lambda: _answers(url))
        self._run("radosgw-admin", "user", "create", "--uid", "tagtrail", "--display-name",
                  "tagtrail", "--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY)  # fmt: skip
        return url

    def kill(self) -> None:
        """SIGKILL every daemon and wait for it: the cluster's data is thrown away anyway,
        and a clean stop takes seconds a tier (radosgw, then the OSD, then the monitor)."""
        for process in self._processes:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
        for process in self._processes:
            process.wait(timeout=30)
        self._processes.clear()

    def _env(self) -> dict[str, str]:
        return {**os.environ, "CEPH_CONF": str(self.conf)}

    def _run(self, *command: str) -> str:
        done = subprocess.run(
            command, env=self._env(), capture_output=True, timeout=START_TIMEOUT, check=False
        )
        if done.returncode != 0:
            log = self.logs / f"{command[0]}.out"
            log.write_bytes(done.stdout + done.stderr)
            raise GatewayFailed(f"{' '.join(command[:3])} exited {done.returncode} (see {log})")
        return done.stdout.decode()

    def _spawn(self, name: str, *command: str) -> subprocess.Popen[bytes]:
        with (self.logs / f"{name}.stdout").open("wb") as out:
            process = subprocess.Popen(
                command,
                env=self._env(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C at the terminal is pytest's, not theirs
                preexec_fn=_die_with(os.getpid()),
            )
        self._processes.append(process)
        (self.pids / f"{name}.pid").write_text(str(process.pid))
        return process

    def _wait(
        self, what: str, process: subprocess.Popen[bytes], log: str, ready: Callable[[], bool]
    ) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while not ready():
            if process.poll() is not None:
                raise GatewayFailed(
                    f"{log} exited {process.returncode} (see {self.logs}/{log}.log)"
                )
            if time.monotonic() > deadline:
                raise GatewayFailed(f"no {what} within {START_TIMEOUT:.0f} s (see {self.logs})")
            time.sleep(0.05)

    def _ceph_ok(self, *args: str) -> bool:
        command = ["ceph", "--connect-timeout", "2", *args]
        done = subprocess.run(command, env=self._env(), capture_output=True, check=False)
        return done.returncode == 0

    def _osd_up(self, osd_id: str) -> bool:
        command = ["ceph", "--connect-timeout", "5", "osd", "dump"]
        done = subprocess.run(command, env=self._env(), capture_output=True, check=False)
        return any(
            line.startswith(f"osd.{osd_id} up ") for line in done.stdout.decode().splitlines()
        )


def _config(base: Path, fsid: str, mon_host: str, rgw_port: int) -> str:
    run, logs = base / "run", base / "logs"
    return f"""[global]
fsid = {fsid}
mon initial members = a
mon host = {mon_host}
public addr = 127.0.0.1
auth cluster required = none
auth service required = none
auth client required = none
run dir = {run}
admin socket = {run}/$cluster-$name.asok
pid file = {run}/$cluster-$name.pid
log file = {logs}/$name.log
log to stderr = false
err to stderr = true
mon cluster log file = {logs}/cluster.log
keyring = {base}/keyring
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon warn on insecure global id reclaim allowed = false
mon max pg per osd = 1000
mon data avail warn = 2
mon data avail crit = 1
# radosgw makes its pools one monitor round each: commit rounds at once, not every second
paxos propose interval = 0.01
paxos min wait = 0.001

[mon]
mon data = {base}/mon/$cluster-$id

[osd]
osd data = {base}/osd/$cluster-$id
osd objectstore = memstore
# the capacity it reports; memory is taken only as objects are stored
memstore device bytes = {2 * 1024**3}
osd crush initial weight = 1
osd crush update on start = true

[client.rgw.a]
rgw data = {base}/rgw/$cluster-$id
rgw frontends = beast endpoint=127.0.0.1:{rgw_port} tcp_nodelay=1
# free the tails of deleted objects after 30 s, not 2 h: the OSD keeps them in memory
rgw gc obj min wait = 30
rgw gc processor period = 30
# with auth off, radosgw's default (secure) cannot be had: it would loop on an auth error
ms mon client mode = crc
"""


def _answers(url: str) -> bool:
    try:
        httpx.get(url, timeout=2)
    except httpx.TransportError:
        return False
    return True


def _on_path(name: str) -> bool:
    return shutil.which(name) is not None


def _die_with(parent: int) -> Callable[[], None]:
    """A preexec_fn: the child gets SIGKILL when ``parent`` dies (or has died already)."""
    # Looked up here, before the fork: dlopen in the child could wait forever on a lock that
    # another thread of this process (xdist's) held when it forked.
    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def arrange() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before prctl: nobody would signal
            os._exit(1)

    return arrange


def _start_time(pid: int) -> str:
    """When ``pid`` started (clock ticks since boot): with the pid, names one process even
    after the pid is reused. Empty when no such process runs."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rpartition(")")[2].split()[19]


def _sweep(directory: Path) -> None:
    """Remove what earlier runs whose process is gone left: their daemons (should any still
    run) and their directories."""
    if not directory.is_dir():
        return
    for base in directory.iterdir():
        owner, _, rest = base.name.partition("-")
        started = rest.partition("-")[0]
        if owner.isdigit() and started and _start_time(int(owner)) == started:
            continue  # a run in progress (another xdist worker's)
        for pid_file in base.glob("pids/*.pid"):
            with contextlib.suppress(ValueError, OSError):
                pid = int(pid_file.read_text())
                if Path(f"/proc/{pid}/comm").read_text().strip() in DAEMONS:
                    os.kill(pid, signal.SIGKILL)
        shutil.rmtree(base, ignore_errors=True)
