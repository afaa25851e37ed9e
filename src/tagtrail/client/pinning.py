"""Planning ``pin``: which references to pin, re-pin or report, and the files' new text.

A reference with a tag and no digest is *unpinned*: pinning appends ``@<digest>`` of what the
tag points to (now, or at ``--at``), keeping the tag for readability (``name`` alone becomes
``name:latest@...``). One with a tag and a digest is *pinned*: ``--update`` re-resolves the tag
and replaces the digest when it moved, and ``--check`` reports it *stale* then; without
either it is reported as already pinned and left alone. A digest without a tag is left alone:
there is nothing to resolve it from.

With a cooldown (``--min-age 7d``, as Renovate's ``minimumReleaseAge``), what a tag resolves to
is what it pointed to that long ago: the newest digest it moved to at least that long ago, read
from its history. A digest it moved to since is too young: ``--check`` names such a pin, and a
tag whose every digest is that young fails to resolve (its references are left as they are).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from tagtrail.client.errors import (
    ClientError,
    NoHistoryApi,
    NotAtTime,
    NotFoundError,
    UnexpectedResponse,
)
from tagtrail.client.history import (
    HistoryEntry,
    PointInTime,
    digest_at,
    fallback_note,
    required_digest,
    tag_history,
)
from tagtrail.client.manifests import resolve_tag
from tagtrail.client.reference import ImageReference, parse_reference
from tagtrail.client.rewrite import Site, SourceFile
from tagtrail.client.session import RegistrySession
from tagtrail.client.sessions import SessionPool
from tagtrail.errors import RegistryError
from tagtrail.times import format_moment, parse_timestamp, to_millis

Resolver = Callable[[ImageReference], str]
# What --check says of a pin (the reference, its digest) that is not the digest wanted.
Describer = Callable[[ImageReference, str, str], str]
# Failures that concern one reference; any other ClientError aborts the command.
PER_REFERENCE = (NotFoundError, NotAtTime, NoHistoryApi)


@dataclass(frozen=True, slots=True)
class Change:
    path: Path
    line: int  # 1-based
    old: str
    new: str
    kind: Literal["pinned", "updated"]


@dataclass(frozen=True, slots=True)
class Finding:
    """A reference ``--check`` objects to, a failure to resolve one, or one left alone."""

    path: Path
    line: int  # 1-based
    text: str
    message: str


@dataclass
class Plan:
    changes: list[Change] = field(default_factory=list)
    problems: list[Finding] = field(default_factory=list)  # unpinned or stale (--check)
    failures: list[Finding] = field(default_factory=list)  # could not resolve
    skipped: list[Finding] = field(default_factory=list)  # left alone, with the reason
    rewritten: dict[Path, tuple[str, str]] = field(default_factory=dict)  # old and new text
    references: int = 0  # image references looked at (variables and templates not counted)


def pinned_text(text: str, reference: ImageReference, digest: str) -> str:
    """``text`` (a reference as written) pinned to ``digest``, its tag kept or made explicit."""
    base = text.partition("@")[0]
    if reference.tag is None:
        base += ":latest"
    return f"{base}@{digest}"


def stale(_reference: ImageReference, _pinned: str, wanted: str) -> str:
    return f"stale: the tag points to {wanted}"


def make_plan(
    files: Sequence[SourceFile],
    resolve: Resolver,
    *,
    update: bool = False,
    check: bool = False,
    describe: Describer = stale,
) -> Plan:
    plan = Plan()
    for source in files:
        replacements: dict[Site, str] = {}
        reported = len(plan.skipped)
        for skip in source.skipped:
            plan.skipped.append(Finding(source.path, skip.line + 1, skip.text, skip.reason))
        for site in source.sites:
            line = site.line + 1
            try:
                reference = parse_reference(site.text)
            except ClientError as exc:
                plan.skipped.append(Finding(source.path, line, site.text, f"left alone: {exc}"))
                continue
            plan.references += 1
            pinned = reference.digest is not None
            if pinned and reference.tag is None:
                continue
            if check and not pinned:
                plan.problems.append(Finding(source.path, line, site.text, "unpinned"))
                continue
            if pinned and not (update or check):
                plan.skipped.append(
                    Finding(source.path, line, site.text, "already pinned; --update moves it")
                )
                continue
            try:
                wanted = resolve(reference.with_tag(reference.tag_or_latest))
            except PER_REFERENCE as exc:
                plan.failures.append(Finding(source.path, line, site.text, str(exc)))
                continue
            if wanted == reference.digest:
                continue
            if check:
                assert reference.digest is not None  # unpinned ones were reported above
                message = describe(reference, reference.digest, wanted)
                plan.problems.append(Finding(source.path, line, site.text, message))
                continue
            new = pinned_text(site.text, reference, wanted)
            replacements[site] = new
            kind: Literal["pinned", "updated"] = "updated" if pinned else "pinned"
            plan.changes.append(Change(source.path, line, site.text, new, kind))
        # In line order, whether left alone while scanning or while planning.
        plan.skipped[reported:] = sorted(plan.skipped[reported:], key=lambda f: f.line)
        if replacements:
            plan.rewritten[source.path] = (source.original, source.render(replacements))
    return plan


@dataclass(frozen=True, slots=True)
class Cooldown:
    """``--min-age``: how long a digest must have been the tag's before it is pinned; ``text``
    as the user typed it, for messages."""

    age: timedelta
    text: str


Key = tuple[str, str | None, str, str]


class TagResolver:
    """Resolves ``tag`` references to digests (now, at ``at``, or ``cooldown`` ago), once per
    tag.

    ``notes`` collects what the answers cannot tell (a point in time answered without the
    OCI extension cannot see deletions). Failures that concern one reference (unknown tag,
    no digest at that time) are raised per reference; the rest abort the command.
    """

    def __init__(
        self,
        pool: SessionPool,
        at: datetime | None = None,
        *,
        cooldown: Cooldown | None = None,
        now: datetime | None = None,
    ) -> None:
        self.pool = pool
        self.at = at
        self.cooldown = cooldown
        # One cutoff for the whole run: every reference to a tag is judged alike.
        self.cutoff = (now or datetime.now(UTC)) - (cooldown.age if cooldown else timedelta())
        self.notes: list[str] = []
        self._done: dict[Key, str | ClientError] = {}
        # Per tag under a cooldown: the digests it moved to after the cutoff, and when.
        self._young: dict[Key, dict[str, str]] = {}

    def __call__(self, reference: ImageReference) -> str:
        key = _key(reference)
        if key not in self._done:
            try:
                self._done[key] = self._resolve(reference, key[3])
            except PER_REFERENCE as exc:
                self._done[key] = exc
        found = self._done[key]
        if isinstance(found, ClientError):
            raise found
        return found

    def describe(self, reference: ImageReference, pinned: str, wanted: str) -> str:
        """What ``--check`` says of a reference pinned to ``pinned`` when ``wanted`` is due."""
        if self.cooldown is None:
            return stale(reference, pinned, wanted)
        age = self.cooldown.text
        moved = self._young.get(_key(reference), {}).get(pinned)
        if moved is not None:
            return (
                f"younger than {age}: the tag moved to it at {moved}; the newest digest at "
                f"least {age} old is {wanted}"
            )
        return f"stale: the newest digest at least {age} old is {wanted}"

    def _resolve(self, reference: ImageReference, tag: str) -> str:
        session = self.pool.session(reference)
        what = str(reference.with_tag(tag))
        if self.cooldown is not None:
            return self._cooled(session, reference, tag, self.cooldown)
        if self.at is None:
            digest = resolve_tag(session, reference.repository, tag)
            if digest is None:
                raise NotFoundError(f"unknown tag {what}")
            return digest
        point = self._point(session, reference, tag, self.at)
        return required_digest(point, what, self.at)

    def _point(
        self, session: RegistrySession, reference: ImageReference, tag: str, at: datetime
    ) -> PointInTime:
        point = digest_at(session, reference.repository, tag, at)
        if not point.sees_deletions:
            self.notes.append(fallback_note(session.host, reference.repository, tag, at))
        return point

    def _cooled(
        self, session: RegistrySession, reference: ImageReference, tag: str, cooldown: Cooldown
    ) -> str:
        """What the tag pointed to at the cutoff, if it exists now; the moves since are kept
        for ``describe``."""
        what = str(reference.with_tag(tag))
        since = tag_history(session, reference.repository, tag, start=self.cutoff)
        if since.current is None:
            when = f" (deleted at {since.deleted_at})" if since.deleted_at else ""
            raise NotFoundError(f"unknown tag {what}{when}")
        # Records at the cutoff's millisecond are old enough, as digest_at counts them.
        cutoff_ms = to_millis(self.cutoff)
        young = [
            record
            for record in since.records
            if record.event == "created" and _millis(session, record) > cutoff_ms
        ]
        self._young[_key(reference)] = {record.digest: record.timestamp for record in young}
        point = self._point(session, reference, tag, self.cutoff)
        if point.digest is not None:
            return point.digest
        if point.deleted:
            raise NotAtTime(
                f"every digest of {what} is younger than {cooldown.text}: it was deleted at "
                f"{point.timestamp} and created again since"
            )
        first = young[0].timestamp if young else f"after {format_moment(self.cutoff)}"
        raise NotAtTime(
            f"every digest of {what} is younger than {cooldown.text}: its history starts at {first}"
        )


def _millis(session: RegistrySession, record: HistoryEntry) -> int:
    try:
        return parse_timestamp(record.timestamp)
    except RegistryError as exc:  # TimestampInvalid: a registry's record, not the user's input
        raise UnexpectedResponse(
            f"{session.host} sent a history record with no valid timestamp: "
            f"{record.timestamp[:64]!r}"
        ) from exc


def _key(reference: ImageReference) -> Key:
    return (reference.registry, reference.scheme, reference.repository, reference.tag_or_latest)
