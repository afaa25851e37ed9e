"""Times on the command line: RFC 3339 / ISO 8601 timestamps, dates and durations.

``2024-05-01T12:00:00.250Z`` and ``2024-05-01T14:00:00+02:00`` are instants (no offset means
UTC), ``2024-05-01`` is midnight UTC of that day, and ``7d``, ``12h`` or ``1h30m`` are that long
before now. Tag history records carry millisecond timestamps.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from tagtrail.client.errors import UsageError
from tagtrail.errors import RegistryError
from tagtrail.types import format_timestamp, parse_instant, to_millis

_DURATION_RE = re.compile(r"(?:[0-9]+[smhdw])+")
_PART_RE = re.compile(r"([0-9]+)([smhdw])")
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_moment(text: str, *, now: datetime | None = None) -> datetime:
    """An aware datetime for ``text``; raises UsageError for anything else."""
    raw = text.strip()
    if _DURATION_RE.fullmatch(raw):
        delta = timedelta()
        for amount, unit in _PART_RE.findall(raw):
            delta += timedelta(**{_UNITS[unit]: int(amount)})
        return (now or datetime.now(UTC)) - delta
    if _DATE_RE.fullmatch(raw):
        try:
            return datetime.strptime(raw, "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError as exc:
            raise UsageError(f"not a date: {text!r}") from exc
    try:
        return parse_instant(raw)
    except RegistryError as exc:
        raise UsageError(
            f"not a time: {text!r} (use an RFC 3339 timestamp such as 2024-05-01T12:00:00Z, "
            "a date such as 2024-05-01, or a duration such as 7d or 12h)"
        ) from exc


def millis(moment: datetime) -> int:
    """Epoch milliseconds, rounded down (the last millisecond at or before ``moment``)."""
    return to_millis(moment)


def format_millis(timestamp_ms: int) -> str:
    """RFC 3339 UTC with milliseconds, as tag history APIs write timestamps."""
    return format_timestamp(timestamp_ms)


def format_moment(moment: datetime) -> str:
    """RFC 3339 UTC, with microseconds only when the moment has some below the millisecond."""
    utc = moment.astimezone(UTC)
    spec = "milliseconds" if utc.microsecond % 1000 == 0 else "microseconds"
    return utc.replace(tzinfo=None).isoformat(timespec=spec) + "Z"
