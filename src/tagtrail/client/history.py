"""Both tag history APIs, from the client's side.

``fetch_history`` reads the Tag History API (``/v2/<name>/_chainguard/history/<tag>``, oldest
first, at most 1000 records a response) to the end: it follows the ``Link: <...>; rel="next"``
header where the registry sends one, and elsewhere asks again with ``start`` set to the last
timestamp received (``start`` is inclusive, so the records at that timestamp come back and are
dropped), until a page is not full.

``tag_history`` is what ``tagtrail history`` shows: every assignment and deletion from the draft
OCI tag-history extension (``/v2/<name>/_oci/tag-history/<tag>``, newest first, ``Link`` paging)
where the registry serves it, else the moves ``fetch_history`` reads; and the tag's state now.

``digest_at`` answers "what did the tag point to at T": with the extension
(``?before=<T + 1 ms>&n=1``, newest entry at or before T, which may be a deletion) where the
registry serves it, else from the Tag History API (the last record at or before T; deletions
are invisible there). A registry without the extension answers 404 (405, 501 or UNSUPPORTED
from some); only that makes the client fall back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, get_args

import httpx

from tagtrail.client.errors import (
    ClientError,
    NoHistoryApi,
    NotAtTime,
    NotFoundError,
    UnexpectedResponse,
    error_codes,
    error_summary,
)
from tagtrail.client.manifests import resolve_tag
from tagtrail.client.session import RegistrySession, pull_scope
from tagtrail.times import format_moment, format_timestamp, moment_of_millis, to_millis

PAGE_CAP = 1000
OCI_TIMESTAMP = "org.opencontainers.distribution.tag.timestamp"
OCI_EVENT = "org.opencontainers.distribution.tag.event"
# tagtrail's own annotations on a mirror's records: seen on the upstream ("mirror", after the
# check at moved-after) or the upstream's own record ("import"). Other registries send neither.
ORIGIN = "dev.tagtrail.origin"
MOVED_AFTER = "dev.tagtrail.moved-after"
# Who moved the tag, how, and from where: tagtrail sends these to callers whose account may
# push to the repository only (never to public readers).
ACTOR = "dev.tagtrail.actor"
ACTION = "dev.tagtrail.action"
PREVIOUS = "dev.tagtrail.previous"


Event = Literal["created", "deleted"]
Source = Literal["oci", "chainguard"]
_NOT_SERVED = frozenset({404, 405, 501})


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One move of a tag ("created") or its deletion ("deleted", ``digest`` then what it
    pointed to just before), its timestamp as the registry wrote it. (The server's own record,
    with epoch milliseconds, is ``tagtrail.types.HistoryRecord``.) ``origin`` and
    ``moved_after``: what a tagtrail mirror says of it (``ORIGIN``, ``MOVED_AFTER``).
    ``action``, ``actor``, ``previous``: who moved it, how and from where (``ACTION``,
    ``ACTOR``, ``PREVIOUS``), where the registry tells this caller."""

    timestamp: str
    digest: str
    event: Event = "created"
    origin: str | None = None
    moved_after: str | None = None
    action: str | None = None
    actor: str | None = None
    previous: str | None = None


@dataclass(frozen=True, slots=True)
class TagHistory:
    """A tag's records (oldest first) and its state now: ``current`` is the digest it points
    to, None when it is deleted; ``deleted_at`` says since when, where the API tells."""

    records: list[HistoryEntry]
    source: Source
    current: str | None
    deleted_at: str | None = None

    @property
    def sees_deletions(self) -> bool:
        return self.source == "oci"


@dataclass(frozen=True, slots=True)
class PointInTime:
    """What a tag pointed to at a moment. ``digest`` None: nothing (not yet, or deleted)."""

    digest: str | None
    timestamp: str | None  # of the record that answers, None when there is none
    deleted: bool
    source: Source

    @property
    def sees_deletions(self) -> bool:
        return self.source == "oci"


def history_path(repository: str, tag: str) -> str:
    return f"/v2/{repository}/_chainguard/history/{tag}"


def oci_history_path(repository: str, tag: str) -> str:
    return f"/v2/{repository}/_oci/tag-history/{tag}"


def next_page_url(response: httpx.Response) -> str | None:
    """The absolute URL of the ``Link`` header's ``rel="next"`` target, or None. A ``rel``
    may list several relations (``rel="next last"``), in any case (RFC 8288)."""
    for link in response.links.values():
        relations = next((v for k, v in link.items() if k.lower() == "rel"), "")
        if "next" in relations.lower().split():
            return str(response.url.join(link["url"]))
    return None


def _missing(
    session: RegistrySession, repository: str, tag: str, response: httpx.Response
) -> ClientError:
    """A 404 from a history API: an unknown tag, or a registry without the API."""
    path = response.url.path
    if resolve_tag(session, repository, tag) is not None:
        return NoHistoryApi(
            f"{session.host} serves no Tag History API: GET {path} answered "
            f"{error_summary(response)}, though the tag exists"
        )
    if "NAME_UNKNOWN" in error_codes(response):
        return NotFoundError(
            f"unknown repository {session.host}/{repository} ({error_summary(response)})"
        )
    return NotFoundError(
        f"unknown tag {session.host}/{repository}:{tag} ({error_summary(response)})"
    )


def _records(session: RegistrySession, response: httpx.Response) -> list[HistoryEntry]:
    try:
        body: Any = response.json()
        entries = body["history"]
        return [HistoryEntry(str(e["updateTimestamp"]), str(e["digest"])) for e in entries]
    except (ValueError, KeyError, TypeError) as exc:
        raise UnexpectedResponse(
            f"{session.host} answered {response.url.path} with no tag history JSON"
        ) from exc


def fetch_history(
    session: RegistrySession,
    repository: str,
    tag: str,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    page_cap: int = PAGE_CAP,
) -> list[HistoryEntry]:
    """Every record of ``tag`` between ``start`` and ``end`` (inclusive), oldest first."""
    path = history_path(repository, tag)
    bounds: dict[str, str] = {}
    if start is not None:
        bounds["start"] = format_moment(start)
    if end is not None:
        bounds["end"] = format_moment(end)
    target: str = path
    query: dict[str, str] | None = bounds
    records: list[HistoryEntry] = []
    seen_at_boundary: set[HistoryEntry] = set()
    while True:
        response = session.request("GET", target, scope=pull_scope(repository), params=query)
        if response.status_code == 404:
            raise _missing(session, repository, tag, response)
        if response.status_code != 200:
            raise UnexpectedResponse(
                f"{session.host} answered {error_summary(response)} to GET {response.url.path}"
            )
        page = _records(session, response)
        fresh = [record for record in page if record not in seen_at_boundary]
        records.extend(fresh)
        link = next_page_url(response)
        if link is not None:
            if not fresh:
                raise UnexpectedResponse(
                    f"{session.host} sent a Link to a page without new records: {link}"
                )
            target, query = link, None
        elif len(page) >= page_cap:
            if not fresh:
                raise UnexpectedResponse(
                    f"{session.host}: more than {page_cap} records share the timestamp "
                    f"{page[-1].timestamp}; the Tag History API cannot page past them"
                )
            # No Link: ask from the last timestamp on (inclusive), dropping what repeats.
            target, query = path, {**bounds, "start": page[-1].timestamp}
        else:
            return records
        last = page[-1].timestamp
        seen_at_boundary = {record for record in page if record.timestamp == last}


def oci_served(response: httpx.Response) -> bool:
    """False when the answer says the registry has no OCI tag-history extension."""
    return response.status_code not in _NOT_SERVED and "UNSUPPORTED" not in error_codes(response)


def _oci_records(session: RegistrySession, response: httpx.Response) -> list[HistoryEntry]:
    events = get_args(Event)
    try:
        body: Any = response.json()
        found = []
        for entry in body["manifests"]:
            annotations = entry["annotations"]
            event = annotations[OCI_EVENT]
            if event not in events:
                raise ValueError(event)
            timestamp, digest = str(annotations[OCI_TIMESTAMP]), str(entry["digest"])
            # In HistoryEntry's field order, after the event.
            told = (annotations.get(key) for key in (ORIGIN, MOVED_AFTER, ACTION, ACTOR, PREVIOUS))
            strings = (value if isinstance(value, str) else None for value in told)
            found.append(HistoryEntry(timestamp, digest, event, *strings))
        return found
    except (ValueError, KeyError, TypeError) as exc:
        raise UnexpectedResponse(
            f"{session.host} answered {response.url.path} with no OCI tag-history index"
        ) from exc


def _oci_get(
    session: RegistrySession, repository: str, target: str, query: dict[str, str] | None
) -> tuple[list[HistoryEntry], httpx.Response] | None:
    """One page of the extension, newest first; None when the registry does not serve it."""
    response = session.request("GET", target, scope=pull_scope(repository), params=query)
    if not oci_served(response):
        return None
    if response.status_code != 200:
        raise UnexpectedResponse(
            f"{session.host} answered {error_summary(response)} to GET {response.url.path}"
        )
    return _oci_records(session, response), response


def _oci_newest(
    session: RegistrySession, repository: str, tag: str, before: str | None = None
) -> list[HistoryEntry] | None:
    """The newest entry (before ``before``), as a list of at most one; None without the
    extension."""
    query = {"n": "1"} if before is None else {"before": before, "n": "1"}
    page = _oci_get(session, repository, oci_history_path(repository, tag), query)
    return None if page is None else page[0][:1]


def fetch_events(
    session: RegistrySession,
    repository: str,
    tag: str,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[HistoryEntry] | None:
    """Every assignment and deletion of ``tag`` between ``start`` and ``end`` (inclusive, to
    the millisecond), newest first, following ``Link``; None without the extension."""
    bounds: dict[str, str] = {}
    if start is not None:
        # The bounds are strict: since the millisecond before the first one wanted.
        first = to_millis(start, round_up=True)
        bounds["since"] = format_timestamp(first - 1)
    if end is not None:
        bounds["before"] = format_timestamp(to_millis(end) + 1)
    target = oci_history_path(repository, tag)
    query: dict[str, str] | None = bounds
    records: list[HistoryEntry] = []
    followed: set[str] = set()
    while True:
        page = _oci_get(session, repository, target, query)
        if page is None:
            if records or followed:
                raise UnexpectedResponse(f"{session.host} stopped serving {target} while paging")
            return None
        entries, response = page
        records.extend(entries)
        link = next_page_url(response)
        if link is None:
            return records
        if link in followed or not entries:
            raise UnexpectedResponse(f"{session.host} sent a Link that does not advance: {link}")
        followed.add(link)
        target, query = link, None


def _unknown(session: RegistrySession, repository: str, tag: str) -> NotFoundError:
    """An unknown tag or repository, told apart by the repository's tag list."""
    response = session.request(
        "GET", f"/v2/{repository}/tags/list", scope=pull_scope(repository), params={"n": "1"}
    )
    if response.status_code == 404:
        return NotFoundError(
            f"unknown repository {session.host}/{repository} ({error_summary(response)})"
        )
    return NotFoundError(f"unknown tag {session.host}/{repository}:{tag} (it has no history)")


def tag_history(
    session: RegistrySession,
    repository: str,
    tag: str,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
) -> TagHistory:
    """The records of ``tag`` between ``start`` and ``end``, oldest first, and its state now:
    from the OCI extension where the registry serves it, else from the Tag History API (which
    shows no deletions; the state then comes from resolving the tag)."""
    events = fetch_events(session, repository, tag, start=start, end=end)
    if events is None:
        try:
            records = fetch_history(session, repository, tag, start=start, end=end)
        except NoHistoryApi as exc:
            raise NoHistoryApi(
                f"{session.host} serves no Tag History API (neither _oci/tag-history nor "
                f"_chainguard/history), though {repository}:{tag} exists"
            ) from exc
        current = resolve_tag(session, repository, tag)
        return TagHistory(records, "chainguard", current)
    records = events[::-1]
    newest = events[:1] if events and end is None else _oci_newest(session, repository, tag)
    if not newest:
        # No history at all (the extension answers an unknown tag with an empty list).
        current = resolve_tag(session, repository, tag)
        if current is None:
            raise _unknown(session, repository, tag)
        return TagHistory(records, "oci", current)
    if newest[0].event == "deleted":
        return TagHistory(records, "oci", None, newest[0].timestamp)
    return TagHistory(records, "oci", newest[0].digest)


def _oci_point(
    session: RegistrySession, repository: str, tag: str, at: datetime
) -> PointInTime | None:
    """The newest OCI tag-history entry at or before ``at``; None without the extension."""
    newest = _oci_newest(session, repository, tag, before=format_timestamp(to_millis(at) + 1))
    if newest is None:
        return None
    if not newest:
        return PointInTime(None, None, deleted=False, source="oci")
    entry = newest[0]
    if entry.event == "deleted":
        return PointInTime(None, entry.timestamp, deleted=True, source="oci")
    return PointInTime(entry.digest, entry.timestamp, deleted=False, source="oci")


def digest_at(session: RegistrySession, repository: str, tag: str, at: datetime) -> PointInTime:
    """What ``tag`` pointed to at ``at`` (to the millisecond)."""
    found = _oci_point(session, repository, tag, at)
    if found is not None:
        return found
    try:
        records = fetch_history(session, repository, tag, end=moment_of_millis(to_millis(at)))
    except NoHistoryApi as exc:
        raise NoHistoryApi(
            f"{session.host} serves no tag history API (neither _oci/tag-history nor "
            f"_chainguard/history), so it cannot say what {repository}:{tag} was at a time"
        ) from exc
    if not records:
        return PointInTime(None, None, deleted=False, source="chainguard")
    return PointInTime(records[-1].digest, records[-1].timestamp, False, "chainguard")


def deletions_note(host: str, repository: str, tag: str) -> str:
    """What a history from the Tag History API cannot tell."""
    return (
        f"{host} has no OCI tag-history extension: its _chainguard history lists moves only, "
        f"so deletions of {repository}:{tag} cannot be shown"
    )


def fallback_note(host: str, repository: str, tag: str, at: datetime) -> str:
    """What a point-in-time answer from the Tag History API cannot tell."""
    return (
        f"{host} has no OCI tag-history extension: its _chainguard history cannot show "
        f"deletions, so {repository}:{tag} might have been deleted at {format_moment(at)}"
    )


def required_digest(point: PointInTime, what: str, at: datetime) -> str:
    """The digest of ``point``; NotAtTime when the tag pointed nowhere at ``at``."""
    if point.digest is not None:
        return point.digest
    when = format_moment(at)
    if point.deleted:
        raise NotAtTime(f"{what} did not exist at {when}: it was deleted at {point.timestamp}")
    raise NotAtTime(f"{what} did not exist at {when}: its history starts later")
