"""``tagtrail pin --min-age`` (a cooldown): each tag resolves to what it pointed to that long
ago, the newest digest it moved to at least that long ago, read from the tag history; a tag
whose every digest is younger is named and left alone; ``--check --min-age`` fails on pins
younger than that and passes on old enough ones.

The history is made with controlled times: a tagtrail whose clock the test sets
(libfaketime, its offset read from a file at every clock read), pushed to at "ten days ago",
"three days ago" and "an hour ago"; and tests/client/fixture_registry.py, a registry with the
Tag History API only (no deletions visible), whose records the test writes."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tagtrail.clock import now_ms
from tagtrail.times import format_timestamp
from tests.api.helpers import repo
from tests.client.fixture_registry import FixtureRegistry, serve
from tests.client.helpers import (
    Result,
    assert_one_line_error,
    db_history,
    ensure_config,
    put_tag,
    run_cli,
    small_manifest,
)
from tests.server import RunningServer, memory_dir, start_server
from tests.ssl_context import SHARED

LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


@dataclass(frozen=True)
class Clocked:
    """A tagtrail whose wall clock runs at the offset written in ``offset_file``."""

    server: RunningServer
    offset_file: Path

    def set_offset(self, spec: str) -> None:
        """libfaketime's relative form: ``-10d``, ``-1h``, ``+0``. Replaced whole, so that
        no clock read of the server (its background loops too) sees half a file."""
        written = self.offset_file.with_suffix(".new")
        written.write_text(spec + "\n")
        written.replace(self.offset_file)


@dataclass(frozen=True)
class Tagged:
    ref: str  # host/name:tag
    digests: list[str]  # in the order the tag moved to them
    times_ms: list[int]  # of each record, as the server wrote them


@pytest.fixture(scope="module")
def clocked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clocked]:
    with memory_dir(tmp_path_factory.mktemp("pin-min-age")) as directory:
        offset_file = directory / "faketime-offset"
        offset_file.write_text("+0\n")
        env = {
            "LD_PRELOAD": LIBFAKETIME,
            "FAKETIME_TIMESTAMP_FILE": str(offset_file),
            "FAKETIME_NO_CACHE": "1",  # read the file at every clock read
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",  # timeouts and the event loop keep real time
        }
        server = start_server(directory / "data", env=env)
        try:
            yield Clocked(server, offset_file)
        finally:
            server.stop()


def push_history(clocked: Clocked, steps: list[str], tag: str = "moving") -> Tagged:
    """Point a new tag at a new digest at each offset of ``steps`` (``delete -4d``: delete the
    tag then)."""
    name = repo("min-age")
    server = clocked.server
    digests = []
    with httpx.Client(base_url=server.url, timeout=30, verify=SHARED) as client:
        ensure_config(client, name)
        try:
            for index, step in enumerate(steps):
                action, _, offset = step.rpartition(" ")
                clocked.set_offset(offset)
                if action == "delete":
                    assert client.delete(f"/v2/{name}/manifests/{tag}").status_code == 202
                    continue
                manifest = small_manifest(f"{name}#{index}")
                digests.append(put_tag(client, name, tag, manifest))
        finally:
            clocked.set_offset("+0")
    times = [record.ts_ms for record in db_history(server, name, tag)]
    return Tagged(f"{server.host}/{name}:{tag}", digests, times)


@pytest.fixture(scope="module")
def moving(clocked: Clocked) -> Tagged:
    """Moved ten days ago, three days ago and an hour ago."""
    tagged = push_history(clocked, ["-10d", "-3d", "-1h"])
    # The server's clock was set: the records say so (within the test's own run time).
    ages = [now_ms() - ts for ts in tagged.times_ms]
    assert 10 * DAY_MS - 60_000 < ages[0] < 10 * DAY_MS + 600_000, ages
    assert 3 * DAY_MS - 60_000 < ages[1] < 3 * DAY_MS + 600_000, ages
    assert HOUR_MS - 60_000 < ages[2] < HOUR_MS + 600_000, ages
    return tagged


def pin(dockerfile: Path, text: str, *args: str) -> Result:
    dockerfile.write_text(text)
    return run_cli("pin", *args, str(dockerfile))


def test_min_age_picks_the_newest_digest_old_enough(moving: Tagged, tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    a, b, c = moving.digests
    for age, expected in (("7d", a), ("2d", b), ("1d12h", b), ("30m", c)):
        result = pin(dockerfile, f"FROM {moving.ref} AS app\n", "--min-age", age)
        assert result.code == 0, result.err
        assert dockerfile.read_text() == f"FROM {moving.ref}@{expected} AS app\n", age
        assert result.out == f"{dockerfile}:1: pinned {moving.ref} -> {moving.ref}@{expected}\n"
    # Without a cooldown: the digest it points to now.
    assert pin(dockerfile, f"FROM {moving.ref}\n").code == 0
    assert dockerfile.read_text() == f"FROM {moving.ref}@{c}\n"


def test_a_tag_whose_every_digest_is_younger_is_left_alone(moving: Tagged, tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    text = f"FROM {moving.ref}\n"
    result = pin(dockerfile, text, "--min-age", "30d")
    assert result.code == 1
    assert dockerfile.read_text() == text
    lines = result.err.splitlines()
    assert lines == [
        f"tagtrail: {dockerfile}:1: cannot resolve {moving.ref}: every digest of {moving.ref} "
        f"is younger than 30d: its history starts at {format_timestamp(moving.times_ms[0])}",
        "tagtrail: nothing was changed",
    ]
    # An existing pin is not moved either, even with --update.
    pinned = f"FROM {moving.ref}@{moving.digests[0]}\n"
    result = pin(dockerfile, pinned, "--update", "--min-age", "30d")
    assert result.code == 1
    assert "every digest of" in result.err
    assert dockerfile.read_text() == pinned


def test_update_with_min_age_moves_a_young_pin_back(moving: Tagged, tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    a, _, c = moving.digests
    result = pin(dockerfile, f"FROM {moving.ref}@{c}\n", "--update", "--min-age", "7d")
    assert result.code == 0, result.err
    assert dockerfile.read_text() == f"FROM {moving.ref}@{a}\n"
    assert " updated " in result.out


def test_check_fails_on_a_young_pin_and_passes_on_an_old_one(
    moving: Tagged, tmp_path: Path
) -> None:
    dockerfile = tmp_path / "Dockerfile"
    a, b, c = moving.digests
    young = pin(dockerfile, f"FROM {moving.ref}@{c}\n", "--check", "--min-age", "7d")
    assert young.code == 1
    assert young.out.splitlines() == [
        f"{dockerfile}:1: {moving.ref}@{c}: younger than 7d: the tag moved to it at "
        f"{format_timestamp(moving.times_ms[2])}; the newest digest at least 7d old is {a}"
    ]
    assert young.err.splitlines() == [
        "tagtrail: 1 unpinned or stale and 0 unresolved of 1 image reference in 1 file"
    ]
    assert dockerfile.read_text() == f"FROM {moving.ref}@{c}\n"  # --check changes nothing
    old = pin(dockerfile, f"FROM {moving.ref}@{a}\n", "--check", "--min-age", "7d")
    assert (old.code, old.err) == (0, "")
    assert old.out == "1 image reference in 1 file: all pinned and current\n"
    # Without the cooldown the old pin is stale, and the young one current.
    assert pin(dockerfile, f"FROM {moving.ref}@{a}\n", "--check").code == 1
    assert pin(dockerfile, f"FROM {moving.ref}@{c}\n", "--check").code == 0
    # Old enough, but a newer digest is old enough too: stale.
    stale = pin(dockerfile, f"FROM {moving.ref}@{a}\n", "--check", "--min-age", "2d")
    assert stale.code == 1
    assert stale.out == (
        f"{dockerfile}:1: {moving.ref}@{a}: stale: the newest digest at least 2d old is {b}\n"
    )


def test_a_tag_deleted_and_created_again_since(clocked: Clocked, tmp_path: Path) -> None:
    """With the OCI extension the deletion is seen: what the tag held before it is no
    candidate."""
    tagged = push_history(clocked, ["-10d", "-5d", "delete -4d", "-1h"])
    deleted_ms = db_history(clocked.server, *_name_tag(tagged.ref))[2].ts_ms
    dockerfile = tmp_path / "Dockerfile"
    result = pin(dockerfile, f"FROM {tagged.ref}\n", "--min-age", "2d")
    assert result.code == 1
    assert (
        f"every digest of {tagged.ref} is younger than 2d: it was deleted at "
        f"{format_timestamp(deleted_ms)}" in result.err
    )
    assert dockerfile.read_text() == f"FROM {tagged.ref}\n"
    result = pin(dockerfile, f"FROM {tagged.ref}\n", "--min-age", "7d")
    assert result.code == 0, result.err
    assert dockerfile.read_text() == f"FROM {tagged.ref}@{tagged.digests[0]}\n"
    assert "note:" not in result.err  # the OCI extension sees deletions


def test_min_age_against_the_tag_history_api_alone(tmp_path: Path) -> None:
    """A registry with only ``_chainguard/history``: the same choice, with the note that a
    deletion would not be seen."""
    now = now_ms()
    records = [
        (now - 20 * DAY_MS, _fake_digest("old")),
        (now - 8 * DAY_MS, _fake_digest("settled")),
        (now - 2 * HOUR_MS, _fake_digest("fresh")),
    ]
    fixture = FixtureRegistry()
    fixture.records[("chainguard/python", "latest")] = records
    with serve(fixture) as running:
        ref = f"{running.host}/chainguard/python:latest"
        dockerfile = tmp_path / "Dockerfile"
        result = pin(dockerfile, f"FROM {ref}\n", "--min-age", "7d")
        assert result.code == 0, result.err
        assert dockerfile.read_text() == f"FROM {ref}@{records[1][1]}\n"
        assert "has no OCI tag-history extension" in result.err
        young = pin(dockerfile, f"FROM {ref}@{records[2][1]}\n", "--check", "--min-age", "7d")
        assert young.code == 1
        assert (
            f"younger than 7d: the tag moved to it at {format_timestamp(records[2][0])}"
            in young.out
        )
        assert pin(dockerfile, f"FROM {ref}\n", "--min-age", "30d").code == 1
        assert dockerfile.read_text() == f"FROM {ref}\n"


def test_min_age_usage_errors(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    for args in (("--min-age", "7 days"), ("--min-age", "0d"), ("--at", "7d", "--min-age", "7d")):
        result = pin(dockerfile, "FROM example.test/a:b\n", *args)
        assert result.code == 2, (args, result)
        assert "--min-age" in result.err, result.err
    assert_one_line_error(run_cli("pin", "--min-age", "7d", str(tmp_path / "nothing")))


def _name_tag(ref: str) -> tuple[str, str]:
    path = ref.split("/", 1)[1]
    name, _, tag = path.rpartition(":")
    return name, tag


def _fake_digest(label: str) -> str:
    return "sha256:" + hashlib.sha256(label.encode()).hexdigest()
