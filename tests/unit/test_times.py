"""Times as tagtrail writes and reads them: RFC 3339 timestamps and ``7d``-style durations."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta, timezone

import pytest

from tagtrail.cli.admin import duration_seconds
from tagtrail.client.errors import UsageError
from tagtrail.client.times import parse_moment
from tagtrail.errors import TimestampInvalid
from tagtrail.times import (
    format_moment,
    format_timestamp,
    moment_of_millis,
    parse_duration,
    parse_timestamp,
    to_millis,
)


def test_timestamps_round_trip_at_millisecond_precision() -> None:
    assert format_timestamp(1683899170555) == "2023-05-12T13:46:10.555Z"
    assert parse_timestamp("2023-05-12T13:46:10.555Z") == 1683899170555
    assert parse_timestamp("2023-05-12T15:46:10.555+02:00") == 1683899170555
    assert parse_timestamp("2023-05-12") == 1683849600000
    # A finer bound rounds so that it keeps the same millisecond records.
    assert parse_timestamp("2023-05-12T13:46:10.5551Z") == 1683899170555
    assert parse_timestamp("2023-05-12T13:46:10.5551Z", round_up=True) == 1683899170556
    assert parse_timestamp("2023-05-12T13:46:10.555Z", round_up=True) == 1683899170555
    for raw in ["yesterday", "2023-13-01", "", "1683899170"]:
        with pytest.raises(TimestampInvalid):
            parse_timestamp(raw)


def test_formatted_timestamps_always_carry_milliseconds_and_parse_back() -> None:
    for ms in (0, 1, 999, 1_000, 1683899170000, 1683899170555, 253402300799999):
        text = format_timestamp(ms)
        assert len(text) == 24 and text.endswith("Z") and text[19] == "."
        assert parse_timestamp(text) == ms
    assert format_timestamp(0) == "1970-01-01T00:00:00.000Z"


def test_unencoded_plus_of_an_offset_is_accepted() -> None:
    # curl users write start=...+02:00 unencoded; the query string turns "+" into a space.
    assert parse_timestamp("2023-05-12T15:46:10.555 02:00") == 1683899170555


def test_to_the_second_truncates_as_token_issue_times_and_expiries_are_written() -> None:
    assert format_timestamp(1683899170999, timespec="seconds") == "2023-05-12T13:46:10Z"
    assert format_timestamp(0, timespec="seconds") == "1970-01-01T00:00:00Z"


def test_a_datetime_is_written_in_utc_with_microseconds_only_below_the_millisecond() -> None:
    moment = datetime(2024, 5, 1, 12, 0, 0, 250_000, tzinfo=UTC)
    assert format_moment(moment) == "2024-05-01T12:00:00.250Z"
    assert format_moment(moment + timedelta(microseconds=999)) == "2024-05-01T12:00:00.250999Z"
    east = datetime(2024, 5, 1, 14, 0, 0, 250_000, tzinfo=timezone(timedelta(hours=2)))
    assert format_moment(east) == "2024-05-01T12:00:00.250Z"
    # Both formatters write the same text for the same millisecond.
    assert format_moment(moment) == format_timestamp(to_millis(moment))
    assert moment_of_millis(to_millis(moment)) == moment


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("720h", timedelta(hours=720)),
        ("30d", timedelta(days=30)),
        ("1h30m", timedelta(minutes=90)),
        ("2w1d", timedelta(days=15)),
        ("0s", timedelta()),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "7", "d", "7x", "1h30", " 7d", "7d ", "-7d", "1.5h", "7D"])
def test_what_is_no_duration(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["1000000000d", "99999999999999999999w", "9" * 5000 + "s"])
def test_a_duration_past_any_date_overflows(text: str) -> None:
    with pytest.raises(OverflowError):
        parse_duration(text)


def test_the_admin_ttl_and_the_clients_start_read_durations_alike() -> None:
    now = datetime(2024, 5, 10, 12, 0, tzinfo=UTC)
    for text in ("720h", "30d", "1h30m", "2w"):
        assert parse_moment(text, now=now) == now - timedelta(seconds=duration_seconds(text))
    with pytest.raises(argparse.ArgumentTypeError, match=r"not a duration: '7x' \(e\.g\. 720h"):
        duration_seconds("7x")


def test_an_absurd_duration_is_a_usage_error_not_a_traceback() -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="too long"):
        duration_seconds("1000000000d")
    with pytest.raises(argparse.ArgumentTypeError, match="too long"):
        duration_seconds("9" * 5000 + "s")
    for text in ("1000000000d", "999999999d", "9" * 5000 + "s"):
        with pytest.raises(UsageError, match="not a time"):
            parse_moment(text)
