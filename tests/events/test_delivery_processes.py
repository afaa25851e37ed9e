"""Delivery by real ``tagtrail serve`` processes: a SIGKILL between the commit and the
delivery loses no event, and two replicas on one PostgreSQL deliver each event once."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from tagtrail.registry.event_formats import EVENT_ID_HEADER
from tests.api.helpers import push_image
from tests.cli.helpers import tagtrail
from tests.events.receiver import Receiver
from tests.postgres import fresh_database
from tests.server import RunningServer, start_server

SECRET = "kill-nine-secret-Wm3"
QUICK_RETRIES = {"TAGTRAIL_WEBHOOK_RETRY_SECONDS": "0.05"}


def wait_until(check: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not within the deadline"
        time.sleep(0.05)


def admin(data_dir: Path, *args: str, env: dict[str, str] | None = None, stdin: str = "") -> str:
    done = tagtrail("admin", "webhook", *args, "--data-dir", str(data_dir), env=env, stdin=stdin)
    assert done.returncode == 0, done.stderr
    return done.stdout


def kill_nine(server: RunningServer) -> None:
    """SIGKILL to the server and its workers, then reap them."""
    os.killpg(server.process.pid, signal.SIGKILL)
    server.stop()


def test_sigkill_between_commit_and_delivery_loses_no_event(tmp_path: Path) -> None:
    receiver = Receiver()  # down while the tag moves
    data = tmp_path / "data"
    first = start_server(data, env=QUICK_RETRIES)
    second = None
    try:
        admin(data, "add", receiver.url, "--secret-stdin", stdin=f"{SECRET}\n")
        with httpx.Client(base_url=first.url, timeout=30) as client:
            digest = push_image(client, "acme/app", "latest").digest
        # Tried, refused (the receiver is down), logged; then kill -9: committed, undelivered.
        wait_until(lambda: "ConnectError" in admin(data, "deliveries", "1"))
        kill_nine(first)
        first_log = first.log()  # the second server writes its log over it
        assert "webhook 1: delivery 1 failed (ConnectError" in first_log
        receiver.start()
        second = start_server(data, env=QUICK_RETRIES)
        (got,) = receiver.wait_for(1)
        assert got.json()["data"]["digest"] == digest
        assert got.json()["data"]["actor"] == "anonymous"
        wait_until(lambda: " delivered " in admin(data, "deliveries", "1"))
    finally:
        receiver.stop()
        if second is not None:
            second.stop()
    # The failed attempts were logged, never with the secret.
    for log in (first_log, second.log()):
        assert SECRET not in log


def test_two_replicas_on_postgresql_deliver_each_event_once(tmp_path: Path) -> None:
    receiver = Receiver().start()
    replicas: list[RunningServer] = []
    with fresh_database() as url:
        env = {"TAGTRAIL_DATABASE_URL": url, **QUICK_RETRIES}
        try:
            for n in range(2):  # one after the other: the first start migrates
                replicas.append(start_server(tmp_path / f"replica{n}", env=env))
            admin(tmp_path / "replica0", "add", receiver.url, env=env)
            clients = [httpx.Client(base_url=r.url, timeout=30) for r in replicas]
            pushed: dict[str, list[str]] = {}
            for n in range(12):
                tag = f"t{n % 4}"
                image = push_image(clients[n % 2], "acme/app", tag)
                pushed.setdefault(tag, []).append(image.digest)
            for client in clients:
                client.close()
            got = receiver.wait_for(12)
            wait_until(
                lambda: (
                    admin(tmp_path / "replica0", "deliveries", "1", env=env).count(" delivered ")
                    == 12
                )
            )
        finally:
            for replica in replicas:
                replica.stop()
            receiver.stop()
    # Every delivery is done and no lease is held: nothing more can be sent.
    assert len(receiver.received) == 12
    assert len({r.headers[EVENT_ID_HEADER.lower()] for r in got}) == 12
    by_tag: dict[str, list[str]] = {}
    for request in got:
        data = request.json()["data"]
        by_tag.setdefault(data["tag"], []).append(data["digest"])
    assert by_tag == pushed  # in order per tag
