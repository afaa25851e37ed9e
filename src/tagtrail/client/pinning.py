"""Planning ``pin``: which references to pin, re-pin or report, and the files' new text.

A reference with a tag and no digest is *unpinned*: pinning appends ``@<digest>`` of what the
tag points to (now, or at ``--at``), keeping the tag for readability (``name`` alone becomes
``name:latest@...``). One with a tag and a digest is *pinned*: ``--update`` re-resolves the tag
and replaces the digest when it moved, and ``--check`` reports it *stale* then; without
either it is reported as already pinned and left alone. A digest without a tag is left alone:
there is nothing to resolve it from.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

from tagtrail.client.errors import ClientError, NoHistoryApi, NotAtTime, NotFoundError
from tagtrail.client.history import digest_at, fallback_note, required_digest
from tagtrail.client.manifests import resolve_tag
from tagtrail.client.reference import ImageReference, parse_reference
from tagtrail.client.rewrite import Site, SourceFile
from tagtrail.client.sessions import SessionPool

Resolver = Callable[[ImageReference], str]
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


def make_plan(
    files: Sequence[SourceFile],
    resolve: Resolver,
    *,
    update: bool = False,
    check: bool = False,
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
                plan.problems.append(
                    Finding(source.path, line, site.text, f"stale: the tag points to {wanted}")
                )
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


class TagResolver:
    """Resolves ``tag`` references to digests (now, or at ``at``), once per tag.

    ``notes`` collects what the answers cannot tell (a point in time answered without the
    OCI extension cannot see deletions). Failures that concern one reference (unknown tag,
    no digest at that time) are raised per reference; the rest abort the command.
    """

    def __init__(self, pool: SessionPool, at: datetime | None = None) -> None:
        self.pool = pool
        self.at = at
        self.notes: list[str] = []
        self._done: dict[tuple[str, str | None, str, str], str | ClientError] = {}

    def __call__(self, reference: ImageReference) -> str:
        tag = reference.tag_or_latest
        key = (reference.registry, reference.scheme, reference.repository, tag)
        if key not in self._done:
            try:
                self._done[key] = self._resolve(reference, tag)
            except PER_REFERENCE as exc:
                self._done[key] = exc
        found = self._done[key]
        if isinstance(found, ClientError):
            raise found
        return found

    def _resolve(self, reference: ImageReference, tag: str) -> str:
        session = self.pool.session(reference)
        what = str(reference.with_tag(tag))
        if self.at is None:
            digest = resolve_tag(session, reference.repository, tag)
            if digest is None:
                raise NotFoundError(f"unknown tag {what}")
            return digest
        point = digest_at(session, reference.repository, tag, self.at)
        if not point.sees_deletions:
            self.notes.append(fallback_note(session.host, reference.repository, tag, self.at))
        return required_digest(point, what, self.at)
