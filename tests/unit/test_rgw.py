"""tests/rgw.py's gateway: it says in one line what is missing rather than skipping, and a
test run killed with its gateway up leaves no daemon running and nothing the next run trips on."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests import rgw

ROOT = Path(__file__).parents[2]

# A test run in miniature: start a gateway, say where, wait to be killed.
_CHILD = """
import sys, time
from tests.rgw import rgw_gateway
with rgw_gateway() as gateway:
    pids = sorted(p.read_text() for p in (gateway.base / "pids").glob("*.pid"))
    print(gateway.base, *pids, flush=True)
    time.sleep(600)
"""


def _alive(pid: int) -> bool:
    """Running (a zombie left for a slow PID 1 to reap is dead)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    state = next(line for line in status.splitlines() if line.startswith("State:"))
    return "zombie" not in state


def test_missing_packages_fail_in_one_line_naming_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(rgw.GatewayFailed) as failed, rgw.rgw_gateway():
        pass
    message = str(failed.value)
    assert "\n" not in message
    assert message.startswith("ceph-mon, ceph-osd, radosgw, ceph, monmaptool, radosgw-admin not")
    assert "scripts/test installs them" in message


def test_a_killed_run_leaves_no_daemon_and_its_directory_goes_next_time() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        base, *pids = child.stdout.readline().split()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    daemons = [int(p) for p in pids]
    assert len(daemons) == 3, pids
    deadline = time.monotonic() + 10
    while alive := [p for p in daemons if _alive(p)]:
        assert time.monotonic() < deadline, f"daemons {alive} outlived the run that started them"
        time.sleep(0.05)
    left = Path(base)
    assert left.is_dir() and left.parent == rgw.root()

    mine = rgw.root() / f"{os.getpid()}-{rgw._start_time(os.getpid())}-running"
    mine.mkdir(parents=True)
    try:
        rgw._sweep(rgw.root())  # what every start does first
        assert not left.exists()
        assert mine.is_dir()  # a run in progress (this one) keeps its directory
    finally:
        mine.rmdir()
