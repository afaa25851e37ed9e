"""The rows and timeline marks of a tag's history page, from one page of its records.

A record reads as what it did to the tag: "created" when the tag did not exist before it (its
first record, or the first after a deletion), "moved" when it changed the tag's digest,
"deleted". A record that points the tag at a digest it pointed to before is also a return: the
tag was rolled back (or restored after a deletion), which a reader of the history wants to see
without comparing 71-character digests by eye.

Records a mirror wrote say how much is known of when: a move seen on the upstream happened
after the check before it and by the check that saw it ("between A and B"; "seen B" for the
first check, with nothing before it), and a record imported from the upstream's own history
carries the upstream's time and reads as imported.
"""

from __future__ import annotations

from dataclasses import dataclass

from tagtrail.registry.browsing import Browsing
from tagtrail.registry.service import Registry
from tagtrail.times import format_timestamp
from tagtrail.types import HistoryRecord, RepoName, Tag
from tagtrail.ui import timeline
from tagtrail.ui.sizes import Sizes

# History record actions a mirror writes (``meta.mirror_state``, below the web layers).
MIRROR_ACTION = "mirror"
IMPORT_ACTION = "import"


@dataclass(frozen=True, slots=True)
class HistoryRow:
    record: HistoryRecord
    change: str  # "created", "moved" or "deleted"
    returned: bool  # points the tag back at a digest it pointed to before
    size: int | None  # the digest's size as every page counts it (ui.sizes)
    stayed_ms: int
    current: bool  # the newest record: its state lasts until now

    @property
    def anchor(self) -> str:
        return f"t{self.record.timestamp_ms}"

    @property
    def origin(self) -> str:
        """``mirror`` (seen on a mirror's upstream), ``import`` (the upstream's record), or ""."""
        action = self.record.action
        return action if action in (MIRROR_ACTION, IMPORT_ACTION) else ""

    @property
    def moved_after_ms(self) -> int | None:
        """For a move a mirror saw: the check before it, after which it happened."""
        return self.record.previous_check_ms if self.origin == MIRROR_ACTION else None

    @property
    def when(self) -> str:
        """When the change happened, as far as tagtrail knows it, in words."""
        at = format_timestamp(self.record.timestamp_ms)
        if self.origin == MIRROR_ACTION:
            if self.moved_after_ms is None:
                return f"seen {at}"
            return f"between {format_timestamp(self.moved_after_ms)} and {at}"
        if self.origin == IMPORT_ACTION:
            return f"at {at} (imported)"
        return f"at {at}"

    @property
    def description(self) -> str:
        """What the record did, in words: the accessible name of its timeline mark."""
        digest, when = self.record.digest, self.when
        if self.change == "deleted":
            return f"deleted from {digest} {when}"
        back = " back" if self.returned else ""
        if self.change == "created":
            return f"created pointing{back} to {digest} {when}"
        return f"moved{back} to {digest} {when}"


@dataclass(frozen=True, slots=True)
class Mark:
    row: HistoryRow
    x: float
    above: str  # label above the axis ("" when unlabelled)
    below: str  # label below the axis
    lane: int

    @property
    def shape(self) -> str:
        if self.row.change == "deleted":
            return "deleted"
        return "returned" if self.row.returned else "created"


async def history_rows(
    browsing: Browsing,
    name: RepoName,
    tag: Tag,
    records: list[HistoryRecord],
    *,
    newer: HistoryRecord | None,
    older_exist: bool,
    now_ms: int,
) -> list[HistoryRow]:
    """Rows for ``records`` (one page, newest first); ``newer`` is the record just newer than
    the page, if any, and ``older_exist`` whether records older than the page exist."""
    if not records:
        return []
    sizes = Sizes(browsing, name)
    older: HistoryRecord | None = None
    if older_exist:
        older = await browsing.record_at(name, tag, records[-1].timestamp_ms - 1)
    first_pointed: dict[str, int] = {}
    for record in records:
        key = str(record.digest)
        if record.event == "created" and key not in first_pointed:
            first = await browsing.first_pointed_ms(name, tag, record.digest)
            first_pointed[key] = first if first is not None else record.timestamp_ms
    rows = []
    for index, record in enumerate(records):
        later = records[index - 1] if index else newer
        before = records[index + 1] if index + 1 < len(records) else older
        end = later.timestamp_ms if later is not None else max(now_ms, record.timestamp_ms)
        if record.event == "deleted":
            change, returned = "deleted", False
        else:
            change = "created" if before is None or before.event == "deleted" else "moved"
            returned = first_pointed[str(record.digest)] < record.timestamp_ms
        size = await sizes.of(str(record.digest))
        rows.append(
            HistoryRow(
                record, change, returned, size, end - record.timestamp_ms, current=later is None
            )
        )
    return rows


async def mirror_upstream(registry: Registry, name: RepoName) -> str:
    """The URL of the upstream ``name`` mirrors ("" when it is no mirror's), for the rows
    imported from that upstream's history."""
    if registry.mirroring is None:
        return ""
    mirrored = await registry.mirroring.upstreams.lookup(name)
    return "" if mirrored is None else mirrored.mirror.url


def marks(rows: list[HistoryRow]) -> tuple[float, list[Mark]]:
    """The timeline's width and its marks, oldest first, for ``rows`` (newest first)."""
    ordered = list(reversed(rows))
    names = [
        "deleted" if row.change == "deleted" else short_digest(str(row.record.digest))
        for row in ordered
    ]
    laid = timeline.layout([row.record.timestamp_ms for row in ordered], names)
    placed = [
        Mark(row, mark.x, mark.above, mark.below, mark.lane)
        for row, mark in zip(ordered, laid.marks, strict=True)
    ]
    return laid.width, placed


def short_digest(digest: str) -> str:
    """The first 7 hex digits, as git abbreviates: enough to tell a tag's digests apart."""
    return digest.partition(":")[2][:7] or digest[:7]
