"""Against a registry that implements only the public Tag History API description (the 1000
cap, no ``Link`` header, no OCI extension): ``history`` still returns the whole history
without duplicates, and ``pin --at`` falls back to it."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tagtrail.times import format_timestamp
from tests.client.fixture_registry import CAP, FixtureRegistry, serve
from tests.client.helpers import assert_one_line_error, run_cli

BASE_MS = 1_700_000_000_000


def fake_digest(label: str) -> str:
    return "sha256:" + hashlib.sha256(label.encode()).hexdigest()


def build_records(count: int) -> list[tuple[int, str]]:
    """``count`` records, a few milliseconds apart, where several share a timestamp across
    each page boundary (the description does not promise distinct timestamps)."""
    records = []
    ts = BASE_MS
    for i in range(count):
        shares = i % CAP in (CAP - 1, 0, 1)  # records 999, 1000, 1001... share one timestamp
        if not shares or i % CAP == CAP - 1:
            ts += 7
        records.append((ts, fake_digest(f"record-{i}")))
    return records


@pytest.fixture
def fixture_registry() -> Iterator[FixtureRegistry]:
    registry = FixtureRegistry()
    registry.records[("chainguard/python", "latest")] = build_records(2500)
    registry.records[("chainguard/python", "exactly")] = build_records(CAP)
    registry.records[("chainguard/python", "few")] = build_records(3)
    with serve(registry) as running:
        yield running


def as_json(records: list[tuple[int, str]]) -> list[dict[str, str]]:
    # Every record of the Tag History API is a move: deletions are not in it.
    return [
        {"updateTimestamp": format_timestamp(ts), "digest": d, "event": "created"}
        for ts, d in records
    ]


def test_full_history_without_duplicates(fixture_registry: FixtureRegistry) -> None:
    records = fixture_registry.records[("chainguard/python", "latest")]
    assert records[CAP - 1][0] == records[CAP][0] == records[CAP + 1][0]
    ref = f"{fixture_registry.host}/chainguard/python:latest"
    result = run_cli("history", ref, "-o", "json", "--oldest-first")
    assert result.code == 0, result.err
    assert result.json() == as_json(records)
    history_requests = [r for r in fixture_registry.requests if "_chainguard" in r]
    assert len(history_requests) == 3  # 1000 + 1000 (+ repeats) + the rest
    assert "start=" in history_requests[1]
    newest = run_cli("history", ref, "-o", "json")
    assert newest.json() == as_json(records)[::-1]


def test_a_full_last_page_and_a_short_one(fixture_registry: FixtureRegistry) -> None:
    exactly = run_cli("history", f"{fixture_registry.host}/chainguard/python:exactly", "-o", "json")
    assert exactly.code == 0, exactly.err
    assert (
        exactly.json() == as_json(fixture_registry.records[("chainguard/python", "exactly")])[::-1]
    )
    few = run_cli("history", f"{fixture_registry.host}/chainguard/python:few", "-o", "json")
    assert few.json() == as_json(fixture_registry.records[("chainguard/python", "few")])[::-1]
    assert len([r for r in fixture_registry.requests if "_chainguard/history/few" in r]) == 1


def test_window_keeps_the_end_bound_while_paging(fixture_registry: FixtureRegistry) -> None:
    records = fixture_registry.records[("chainguard/python", "latest")]
    start, end = records[10][0], records[2300][0]
    result = run_cli(
        "history",
        f"{fixture_registry.host}/chainguard/python:latest",
        "-o",
        "json",
        "--oldest-first",
        "--start",
        format_timestamp(start),
        "--end",
        format_timestamp(end),
    )
    assert result.code == 0, result.err
    assert result.json() == as_json([r for r in records if start <= r[0] <= end])


def test_pin_at_falls_back_and_says_what_it_cannot_see(
    fixture_registry: FixtureRegistry, tmp_path: Path
) -> None:
    records = fixture_registry.records[("chainguard/python", "latest")]
    dockerfile = tmp_path / "Dockerfile"
    ref = f"{fixture_registry.host}/chainguard/python:latest"
    for index in (2, 1500, 2499):
        ts, digest = records[index]
        for at, want in (
            (ts, digest),  # exactly at a move: that move
            (ts + 6, digest),  # just before the next move
        ):
            dockerfile.write_text(f"FROM {ref}\n")
            result = run_cli("pin", "--at", format_timestamp(at), str(dockerfile))
            assert result.code == 0, result.err
            assert dockerfile.read_text() == f"FROM {ref}@{want}\n"
            assert "cannot show deletions" in result.err
        dockerfile.write_text(f"FROM {ref}\n")
        result = run_cli("pin", "--at", format_timestamp(ts - 1), str(dockerfile))
        assert dockerfile.read_text() == f"FROM {ref}@{records[index - 1][1]}\n"
    dockerfile.write_text(f"FROM {ref}\n")
    before = run_cli("pin", "--at", format_timestamp(records[0][0] - 1), str(dockerfile))
    assert before.code == 1
    assert "did not exist" in before.err
    assert dockerfile.read_text() == f"FROM {ref}\n"


def test_registry_without_any_history_api(tmp_path: Path) -> None:
    registry = FixtureRegistry(history=False)
    registry.records[("chainguard/python", "latest")] = build_records(2)
    with serve(registry) as running:
        ref = f"{running.host}/chainguard/python:latest"
        result = run_cli("history", ref)
        assert_one_line_error(result, "serves no Tag History API")
        dockerfile = tmp_path / "Dockerfile"
        dockerfile.write_text(f"FROM {ref}\n")
        pinned = run_cli("pin", "--at", "2024-01-01", str(dockerfile))
        assert pinned.code == 1
        assert "serves no tag history API" in pinned.err
        assert dockerfile.read_text() == f"FROM {ref}\n"
        # Without --at, pinning needs only the standard API.
        now = run_cli("pin", str(dockerfile))
        assert now.code == 0, now.err
        assert dockerfile.read_text() == f"FROM {ref}@{build_records(2)[-1][1]}\n"


def test_history_says_deletions_cannot_be_shown_and_the_state_now(
    fixture_registry: FixtureRegistry,
) -> None:
    records = fixture_registry.records[("chainguard/python", "few")]
    ref = f"{fixture_registry.host}/chainguard/python:few"
    table = run_cli("history", ref)
    assert table.code == 0, table.err
    assert "has no OCI tag-history extension" in table.err
    assert "deletions of chainguard/python:few cannot be shown" in table.err
    lines = table.out.splitlines()
    assert lines[-2:] == ["", f"{ref} points to {records[-1][1]}"]
    # The tag's manifest is gone though its history is not: deleted, but since when is unknown.
    fixture_registry.deleted.add(("chainguard/python", "few"))
    deleted = run_cli("history", ref)
    assert deleted.code == 0, deleted.err
    assert deleted.out.splitlines()[-1] == (
        f"{ref} is deleted (the registry does not say since when)"
    )
    as_data = run_cli("history", ref, "-o", "json")
    assert as_data.json() == as_json(records)[::-1]
    assert f"note: {ref} is deleted" in as_data.err


@pytest.mark.parametrize("status", [405, 501, 400])
def test_other_answers_for_no_extension_fall_back_too(status: int) -> None:
    registry = FixtureRegistry(oci_status=status)
    registry.records[("chainguard/python", "latest")] = build_records(3)
    with serve(registry) as running:
        ref = f"{running.host}/chainguard/python:latest"
        result = run_cli("history", ref, "-o", "json", "--oldest-first")
        assert result.code == 0, result.err
        assert result.json() == as_json(build_records(3))
        assert "cannot be shown" in result.err
