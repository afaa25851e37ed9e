"""Times as tagtrail writes and reads them: RFC 3339 instants and ``7d``-style durations.

Every timestamp tagtrail writes (history records, the Tag History APIs' bounds and ``Link``
cursors, token ``issued_at``, the UI, the client's requests and output, ``admin`` listings) is
RFC 3339 in UTC with a ``Z``, from ``format_timestamp`` (epoch milliseconds, what records
carry) or ``format_moment`` (a datetime). Every duration a user types (``admin token create
--ttl 30d``, ``tagtrail history --start 7d``) is read by ``parse_duration``.

The bottom layer, beside ``types``: it imports nothing of tagtrail but ``errors``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Literal

from tagtrail.errors import TimestampInvalid

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)  # naive UTC: isoformat then carries no offset to strip

_DURATION_RE = re.compile(r"(?:[0-9]+[smhdw])+")
_DURATION_PART_RE = re.compile(r"([0-9]+)([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
DURATION_EXAMPLES = "e.g. 720h, 30d, 1h30m"

# "+02:00" in an unencoded query string arrives as " 02:00": take the space for the plus.
_SPACED_OFFSET_RE = re.compile(r" ([0-9]{2}(?::?[0-9]{2})?)$")


def format_timestamp(
    timestamp_ms: int, *, timespec: Literal["milliseconds", "seconds"] = "milliseconds"
) -> str:
    """RFC 3339 in UTC, to the millisecond by default: 2023-05-12T13:46:10.555Z."""
    # Integer arithmetic and the C isoformat: strftime took a third of a history response.
    moment = _NAIVE_EPOCH + timedelta(milliseconds=timestamp_ms)
    return moment.isoformat(timespec=timespec) + "Z"


def format_moment(moment: datetime) -> str:
    """RFC 3339 in UTC of an aware datetime: to the millisecond, or to the microsecond when it
    has some below the millisecond (a bound sent to a registry keeps its exact meaning)."""
    utc = moment.astimezone(UTC).replace(tzinfo=None)
    spec = "milliseconds" if utc.microsecond % 1000 == 0 else "microseconds"
    return utc.isoformat(timespec=spec) + "Z"


def parse_instant(raw: str) -> datetime:
    """Parse an ISO 8601 / RFC 3339 timestamp; a timestamp without offset is UTC."""
    text = _SPACED_OFFSET_RE.sub(r"+\1", raw.strip())
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise TimestampInvalid(detail={"timestamp": raw[:100]}) from exc
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def to_millis(moment: datetime, *, round_up: bool = False) -> int:
    """Epoch milliseconds. Records carry millisecond timestamps, so a finer bound is rounded to
    the millisecond that keeps the same records: down for an upper bound, up (``round_up``) for
    a lower one."""
    delta = moment - EPOCH
    millis, micros = divmod(delta.microseconds, 1000)
    rounded = millis + (1 if round_up and micros else 0)
    return (delta.days * 86_400 + delta.seconds) * 1000 + rounded


def parse_timestamp(raw: str, *, round_up: bool = False) -> int:
    return to_millis(parse_instant(raw), round_up=round_up)


def moment_of_millis(timestamp_ms: int) -> datetime:
    """The aware UTC datetime of epoch milliseconds."""
    return EPOCH + timedelta(milliseconds=timestamp_ms)


def parse_duration(text: str) -> timedelta:
    """A duration such as ``720h``, ``30d`` or ``1h30m`` (units s, m, h, d, w, summed).
    ValueError when ``text`` is no duration; OverflowError when it is one too long for a
    datetime to be that far from another (about 2.7 million years)."""
    if not _DURATION_RE.fullmatch(text):
        raise ValueError(f"not a duration: {text!r} ({DURATION_EXAMPLES})")
    try:
        total = timedelta()
        for amount, unit in _DURATION_PART_RE.findall(text):
            total += timedelta(**{_UNITS[unit]: int(amount)})
    except (OverflowError, ValueError) as exc:  # past timedelta's range, or int()'s digits
        shown = text if len(text) <= 40 else text[:40] + "..."
        raise OverflowError(f"duration too long: {shown!r} (at most 999999999 days)") from exc
    return total
