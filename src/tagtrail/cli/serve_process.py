"""The server's processes: one listening socket, bound by the main process, and workers that
die with it.

granian binds by itself: on Linux every worker binds its own socket with SO_REUSEPORT, so a
second server on a busy port started and silently took part of the traffic, and a worker
orphaned by a ``kill -9`` of the main process kept answering beside a restarted server (with
the old settings, keys and code). Here the main process binds the port once, without
SO_REUSEPORT, before anything else happens, which fails if anything at all listens there; the
workers accept on that one socket, and each worker is killed by the kernel when the main
process dies (PR_SET_PDEATHSIG; elsewhere a watchdog thread).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

from granian.constants import HTTPModes, Interfaces, Loops
from granian.http import HTTP1Settings
from granian.log import LogLevels
from granian.server.mp import MPServer

from tagtrail.cli.parent_death import die_with_parent
from tagtrail.cli.serve_memory import prepare_for_workers
from tagtrail.config import Settings

APP_FACTORY = "tagtrail.api.app:app_from_environment"
BACKLOG = 1024  # granian's default
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # tagtrail.metrics's, named here to not import it
METRICS_PREFIX = "tagtrail-metrics-"  # then the server's process id
# How long a worker may drain after SIGTERM before the main process kills it. granian waits
# for every open connection, and a client that sent half a request head holds a worker until
# the header timeout (30 s), one in the middle of a body until the body timeout (60 s). Like
# Distribution's default (draintimeout 0), a stop cuts what is in flight short: clients retry,
# and nothing a client got its answer for is lost (tests/reliability/test_crash.py).
DRAIN_SECONDS = 1


@contextlib.contextmanager
def metrics_directory() -> Iterator[Path]:
    """A fresh directory for the workers' metric files (tagtrail/metrics.py), named by
    ``PROMETHEUS_MULTIPROC_DIR`` for every process started from here, and removed at the end.

    prometheus_client chooses between per-process and multiprocess values when it is first
    imported, so this runs before anything that imports it (the bootstrap does). In memory
    (/dev/shm) where there is one: every counted request writes to these files."""
    shm = Path("/dev/shm")  # noqa: S108 (mkdtemp: a new directory, mode 0700)
    parent = shm if shm.is_dir() and os.access(shm, os.W_OK) else Path(tempfile.gettempdir())
    _remove_orphaned_metrics(parent)
    directory = Path(tempfile.mkdtemp(prefix=f"{METRICS_PREFIX}{os.getpid()}-", dir=parent))
    previous = os.environ.get(MULTIPROC_ENV)
    os.environ[MULTIPROC_ENV] = str(directory)
    try:
        yield directory
    finally:
        if previous is None:
            os.environ.pop(MULTIPROC_ENV, None)
        else:
            os.environ[MULTIPROC_ENV] = previous
        shutil.rmtree(directory, ignore_errors=True)


def _remove_orphaned_metrics(parent: Path) -> None:
    """Remove the metrics directories of servers that no longer run: a server killed with
    SIGKILL never removed its own, and /dev/shm is memory. A directory is named by its
    server's process id; one whose process runs is left alone."""
    for directory in parent.glob(f"{METRICS_PREFIX}*-*"):
        owner = directory.name.removeprefix(METRICS_PREFIX).partition("-")[0]
        if owner.isdigit() and not _running(int(owner)):
            shutil.rmtree(directory, ignore_errors=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def bind(settings: Settings) -> socket.socket:
    """The listening socket for ``settings.listen``; OSError if the address is taken (by
    anything, SO_REUSEPORT or not), not ours to bind, or unknown. SO_REUSEADDR only lets the
    bind through while connections of an earlier server linger in TIME_WAIT."""
    found = socket.getaddrinfo(
        settings.host, settings.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )
    family, kind, proto, _, address = found[0]
    listener = socket.socket(family, kind, proto)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as granian's own
        listener.bind(address)
        listener.listen(BACKLOG)
    except OSError:
        listener.close()
        raise
    return listener


def why(exc: OSError) -> str:
    """The reason of a failed bind, as a sentence fragment."""
    if isinstance(exc, socket.gaierror):
        return f"unknown host ({exc.strerror})"
    reason = (exc.strerror or str(exc)).lower()
    if exc.errno == errno.EADDRINUSE:
        return f"{reason} (is another server running there?)"
    return reason


def _worker(parent: int, *args: Any) -> None:
    """A worker process's entry: bound to its parent's life before it loads anything, then
    granian's ASGI worker (with lifespan) as granian itself would start it."""
    die_with_parent(parent)
    MPServer._spawn_asgi_lifespan_worker(*args)


class _Server(MPServer):
    """granian's multi-process server, on a socket bound beforehand."""

    def __init__(self, listener: socket.socket, **options: Any) -> None:
        self._listener = listener
        super().__init__(**options)

    def _init_shared_socket(self) -> None:
        # granian's own shape of a shared socket (what it does where SO_REUSEPORT is not
        # used): no spec for the workers to bind, a holder of the bound socket's descriptor,
        # and the socket, inheritable, which fork hands to every worker.
        from granian._granian import SocketHolder

        # (granian types these attributes None, and its stub omits SocketHolder's arguments:
        # fd, is a Unix socket, backlog.)
        self._listener.set_inheritable(True)
        fd = self._listener.fileno()
        self._ssp = None
        self._shd = SocketHolder(fd, False, BACKLOG)  # type: ignore[call-arg,assignment]
        self._sfd = fd  # type: ignore[assignment]
        self._sso = self._listener


def serve(settings: Settings, listener: socket.socket) -> None:
    """Run granian's workers on ``listener`` until SIGTERM or SIGINT (or a worker fails:
    SystemExit(1)). Workers read their settings from the environment."""
    server = _Server(
        listener,
        target=APP_FACTORY,
        factory=True,
        interface=Interfaces.ASGI,
        # HTTP/1.1 only: granian's "auto" mode first sniffs for the HTTP/2 preface with no
        # timer, so a client that connects and sends nothing was held forever; hyper's own
        # HTTP/1 connection starts header_read_timeout at accept (hyperium/hyper#3756).
        http=HTTPModes.http1,
        address=settings.host,
        port=settings.port,
        backlog=BACKLOG,
        workers=settings.workers,
        loop=Loops.uvloop,  # a dependency: see pyproject.toml for what it saves
        workers_kill_timeout=DRAIN_SECONDS,
        log_level=LogLevels(settings.log_level.lower()),
        ssl_cert=settings.tls_cert,
        ssl_key=settings.tls_key,
        http1_settings=HTTP1Settings(
            header_read_timeout=settings.header_timeout_seconds * 1000,
            max_buffer_size=settings.max_header_bytes,
        ),
    )
    spawn: Callable[..., None] = partial(_worker, os.getpid())
    prepare_for_workers()  # memory the workers it forks share (cli/serve_memory.py)
    try:
        server.serve(spawn_target=spawn)
    finally:
        with contextlib.suppress(OSError):
            listener.close()
