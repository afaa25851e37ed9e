"""Delivery by the registry's own loop (the app in this process) to a real receiver on
127.0.0.1, with webhooks managed by ``tagtrail admin webhook``."""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from tagtrail.registry.event_formats import EVENT_ID_HEADER, SIGNATURE_HEADER
from tests.api.helpers import push_image
from tests.cli.helpers import tagtrail
from tests.events.receiver import Receiver
from tests.events.test_event_formats import distribution_events
from tests.inprocess import InProcessRegistry, in_process_registry

SECRET = "hook-secret-Zq8v"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.stop()


def admin(registry: InProcessRegistry, *args: str, stdin: str = "") -> str:
    done = tagtrail("admin", "webhook", *args, "--data-dir", str(registry.data_dir), stdin=stdin)
    assert done.returncode == 0, done.stderr
    return done.stdout


def add_webhook(registry: InProcessRegistry, *args: str, stdin: str = "") -> int:
    added = admin(registry, "add", *args, stdin=stdin)
    found = re.match(r"webhook (\d+): ", added)
    assert found, added
    return int(found.group(1))


def wait_until(check: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not within the deadline"
        time.sleep(0.02)


def test_a_receiver_down_during_five_moves_gets_all_five_in_order(
    tmp_path: Path, receiver: Receiver
) -> None:
    counted = ("tagtrail_webhook_deliveries_total", "tagtrail_webhook_failures_total")
    before = [REGISTRY.get_sample_value(name) or 0.0 for name in counted]
    with in_process_registry(tmp_path / "data", webhook_retry_seconds=0.05) as registry:
        hook = add_webhook(registry, receiver.url)
        with registry.client() as client:
            pushed = [push_image(client, "acme/app", "latest").digest for _ in range(5)]
        # The first event was tried and refused: the receiver was down for it.
        wait_until(lambda: "ConnectError" in admin(registry, "deliveries", str(hook)))
        receiver.start()
        got = receiver.wait_for(5)
        assert [r.json()["data"]["digest"] for r in got] == pushed
        assert [r.json()["data"]["previous"] for r in got] == [None, *pushed[:-1]]
        wait_until(lambda: admin(registry, "deliveries", str(hook)).count(" delivered ") == 5)
        assert len(receiver.received) == 5  # each once
        assert len({r.headers[EVENT_ID_HEADER.lower()] for r in got}) == 5
        # The metrics (in this process: the app runs in it) saw five deliveries and the
        # attempts the receiver refused.
        delivered, failed = (
            (REGISTRY.get_sample_value(name) or 0.0) - was
            for name, was in zip(counted, before, strict=True)
        )
        assert delivered == 5 and failed >= 1, (delivered, failed)


def test_both_formats_signed_with_the_secret_which_is_never_shown(
    tmp_path: Path, receiver: Receiver
) -> None:
    receiver.start()
    data = tmp_path / "data"
    with in_process_registry(data) as registry:
        signed = add_webhook(registry, receiver.url, "--secret-stdin", stdin=f"{SECRET}\n")
        add_webhook(registry, receiver.url, "--format", "distribution", "--repos", "acme/*")
        listed = admin(registry, "list")
        assert SECRET not in listed
        assert (
            f"{signed}  {receiver.url}  cloudevents  all repositories  all actions  signed\n"
            in (listed)
        )
        assert "distribution  repos acme/*  all actions  unsigned" in listed
        with registry.client() as client:
            digest = push_image(client, "acme/app", "v1").digest
        (cloud,) = receiver.wait_for(1, what=lambda r: "cloudevents" in r.headers["content-type"])
        (envelope,) = receiver.wait_for(
            1, what=lambda r: "distribution" in r.headers["content-type"]
        )
    body = cloud.json()
    assert (body["type"], body["subject"], body["data"]["digest"]) == (
        "dev.tagtrail.tag.moved",
        "acme/app:v1",
        digest,
    )
    assert body["data"]["action"] == "push"
    expected = hmac.new(SECRET.encode(), cloud.body, hashlib.sha256).hexdigest()
    assert cloud.headers[SIGNATURE_HEADER.lower()] == f"sha256={expected}"
    (item,) = distribution_events(envelope.body, envelope.headers["content-type"])
    assert (item["action"], item["target"]["digest"], item["target"]["tag"]) == (
        "push",
        digest,
        "v1",
    )
    assert SIGNATURE_HEADER.lower() not in envelope.headers
    # Sealed at rest: the database holds no secret in the clear.
    assert SECRET.encode() not in (data / "tagtrail.db").read_bytes()
    for wal in data.glob("tagtrail.db-*"):
        assert SECRET.encode() not in wal.read_bytes()


def test_given_up_after_the_age_listed_as_failed_and_redelivered(
    tmp_path: Path,
) -> None:
    receiver = Receiver(status=503).start()
    try:
        with in_process_registry(
            tmp_path / "data", webhook_retry_seconds=0.05, webhook_give_up_seconds=0.3
        ) as registry:
            hook = add_webhook(registry, receiver.url)
            with registry.client() as client:
                push_image(client, "acme/app", "latest")
                push_image(client, "acme/app", "latest")
            failed: list[str] = []

            def listed_failed() -> bool:
                failed[:] = admin(registry, "deliveries", str(hook), "--failed").splitlines()
                return len(failed) == 2  # the second went once the first failed for good

            wait_until(listed_failed)
            assert all(" failed " in line and "last: HTTP 503" in line for line in failed)
            first_id = failed[-1].split()[0]  # newest first: the last line is the first event
            event_id = failed[-1].split("event ")[1].split()[0]
            attempts = len(receiver.received)
            assert attempts >= 2
            receiver.status = 200
            redone = admin(registry, "redeliver", first_id)
            assert f"delivery {first_id} is pending again" in redone
            got = receiver.wait_for(attempts + 1)
            assert got[-1].headers[EVENT_ID_HEADER.lower()] == event_id
            wait_until(lambda: " delivered " in admin(registry, "deliveries", str(hook)))
            assert len(admin(registry, "deliveries", str(hook), "--failed").splitlines()) == 1
    finally:
        receiver.stop()


def test_refusals_are_one_line(tmp_path: Path) -> None:
    with in_process_registry(tmp_path / "data") as registry:
        for args, says in (
            (("add", "http://user:pw@127.0.0.1/hook"), "no user or password"),
            (("add", "ftp://127.0.0.1/hook"), "webhook URL"),
            (("add", "http://127.0.0.1/hook", "--actions", "push,pull"), "not pull"),
            (("rm", "42"), "no webhook 42"),
            (("deliveries", "42"), "no webhook 42"),
            (("redeliver", "42"), "no delivery 42"),
            (("add", "http://127.0.0.1/hook", "--secret-stdin"), "held no secret"),
        ):
            done = tagtrail("admin", "webhook", *args, "--data-dir", str(registry.data_dir))
            assert done.returncode == 1, done
            assert done.stdout == ""
            assert done.stderr.count("\n") == 1 and says in done.stderr, done.stderr
        assert admin(registry, "list") == ""
        hook = add_webhook(registry, "http://127.0.0.1:9/hook", "--actions", "delete")
        assert admin(registry, "rm", str(hook)) == f"removed webhook {hook}\n"
        assert admin(registry, "list") == ""
