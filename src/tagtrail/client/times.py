"""Times on the command line: RFC 3339 / ISO 8601 timestamps, dates and durations.

``2024-05-01T12:00:00.250Z`` and ``2024-05-01T14:00:00+02:00`` are instants (no offset means
UTC), ``2024-05-01`` is midnight UTC of that day, and ``7d``, ``12h`` or ``1h30m`` are that long
before now (read by ``tagtrail.times.parse_duration``, as ``admin`` reads a ``--ttl``). Tag
history records carry millisecond timestamps.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from tagtrail.client.errors import UsageError
from tagtrail.errors import RegistryError
from tagtrail.times import parse_duration, parse_instant

_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def parse_moment(text: str, *, now: datetime | None = None) -> datetime:
    """An aware datetime for ``text``; raises UsageError for anything else."""
    raw = text.strip()
    try:
        return (now or datetime.now(UTC)) - parse_duration(raw)
    except ValueError:
        pass  # not a duration: a date or an instant
    except OverflowError as exc:  # too long, or that long ago is before the year 1
        shown = raw if len(raw) <= 40 else raw[:40] + "..."
        raise UsageError(f"not a time: {shown!r} before now is before the year 1") from exc
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
