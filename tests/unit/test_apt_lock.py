"""scripts/lib.sh's apt_get waits for another apt or dpkg instead of failing on its locks.

Real apt-get on a private apt state (APT_CONFIG: its own lists, dpkg status copy, cache and an
empty source list), so the locks held here are private files: the machine's own apt and dpkg
locks, which other processes may need, are never touched, and nothing is downloaded.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

LIB = Path(__file__).resolve().parents[2] / "scripts" / "lib.sh"

pytestmark = pytest.mark.skipif(
    shutil.which("apt-get") is None or os.geteuid() != 0,
    reason="needs apt-get, run as root (lib.sh would otherwise ask sudo)",
)


@pytest.fixture
def apt_state(tmp_path: Path) -> Path:
    """A private apt configuration; returns its directory (apt.conf inside)."""
    for sub in ("state", "lists/partial", "cache/archives/partial", "parts", "dpkg"):
        (tmp_path / sub).mkdir(parents=True)
    (tmp_path / "sources.list").write_text("")
    shutil.copy("/var/lib/dpkg/status", tmp_path / "dpkg" / "status")
    (tmp_path / "apt.conf").write_text(
        f'Dir::State "{tmp_path}/state";\n'
        f'Dir::State::Lists "{tmp_path}/lists";\n'
        f'Dir::State::status "{tmp_path}/dpkg/status";\n'
        f'Dir::Cache "{tmp_path}/cache";\n'
        f'Dir::Etc::SourceList "{tmp_path}/sources.list";\n'
        f'Dir::Etc::SourceParts "{tmp_path}/parts";\n'
    )
    return tmp_path


def run_apt_get(state: Path, *args: str, timeout: int = 60) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "APT_CONFIG": str(state / "apt.conf"),
        "TAGTRAIL_APT_LOCK_TIMEOUT": str(timeout),
        "TAGTRAIL_APT_LOCK_POLL": "0.2",
    }
    script = 'source "$1"; shift; apt_get "$@"'
    return subprocess.run(
        ["bash", "-c", script, "bash", str(LIB), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@contextmanager
def held(path: Path, seconds: float) -> Iterator[None]:
    """An fcntl lock (apt's kind, not flock's) on ``path``, released after ``seconds``."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o640)
    fcntl.lockf(fd, fcntl.LOCK_EX)
    timer = threading.Timer(seconds, os.close, (fd,))
    timer.start()
    try:
        yield
    finally:
        timer.join()


def test_update_waits_for_the_lists_lock(apt_state: Path) -> None:
    # DPkg::Lock::Timeout does not cover `apt-get update`'s lists lock: without the retry
    # loop this fails at once with "Could not get lock".
    started = time.monotonic()
    with held(apt_state / "lists" / "lock", 1):
        result = run_apt_get(apt_state, "update", "-qq")
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started >= 1
    assert "waiting for another apt or dpkg to finish" in result.stderr


def test_install_waits_for_the_dpkg_lock(apt_state: Path) -> None:
    started = time.monotonic()
    with held(apt_state / "dpkg" / "lock-frontend", 1):
        result = run_apt_get(apt_state, "install", "-y", "-qq")
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started >= 1


def test_the_wait_is_bounded(apt_state: Path) -> None:
    started = time.monotonic()
    with held(apt_state / "lists" / "lock", 2.5):
        result = run_apt_get(apt_state, "update", "-qq", timeout=1)
        elapsed = time.monotonic() - started
    assert result.returncode != 0
    assert "Could not get lock" in result.stderr
    assert elapsed < 2.5


def test_other_failures_are_not_retried(apt_state: Path) -> None:
    started = time.monotonic()
    result = run_apt_get(apt_state, "install", "-y", "-qq", "no-such-package-tagtrail")
    assert result.returncode != 0
    assert "Unable to locate package" in result.stderr
    assert "waiting" not in result.stderr
    assert time.monotonic() - started < 30
