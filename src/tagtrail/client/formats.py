"""History output: ``table`` (for people), ``json``, ``yaml`` and ``csv`` (for programs).

json and yaml hold a list of ``{"updateTimestamp", "digest", "event"}`` objects, the records as
the Tag History API gives them with ``event`` ``created`` (the tag moved to ``digest``) or
``deleted`` (the tag was deleted; ``digest`` is what it pointed to), plus
``"platforms": [{"platform", "digest", "size"}]`` with ``--platforms`` (empty for a
single-image manifest), and, from a tagtrail mirror, ``"origin"`` (``mirror``: seen on the
upstream at ``updateTimestamp``; ``import``: the upstream's own record) and ``"movedAfter"`` (the
check before: the move happened between the two), left out where the registry does not say;
likewise ``"action"``, ``"actor"`` and ``"previous"`` (who moved the tag, how, and the digest it
pointed to before), which tagtrail tells only callers who may push to the repository.
csv has one row per record, or with ``--platforms`` one row per platform (platform columns empty
for a single image); ``event`` is its last column, so the older columns keep their places (it
leaves origin out: its columns stay those of every registry). The table ends with the tag's
state now (``state_line``); its UPDATED column says "between A and B" for a move a mirror saw,
and ACTION and BY columns follow where the registry told who moved the tag.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from typing import Any

from tagtrail.client.history import HistoryEntry, TagHistory
from tagtrail.client.manifests import PlatformEntry

FORMATS = ("table", "json", "yaml", "csv")
Platforms = Mapping[str, Sequence[PlatformEntry]]


def _documents(records: Sequence[HistoryEntry], platforms: Platforms | None) -> list[Any]:
    documents: list[Any] = []
    for record in records:
        document: dict[str, Any] = {
            "updateTimestamp": record.timestamp,
            "digest": record.digest,
            "event": record.event,
        }
        if record.origin is not None:
            document["origin"] = record.origin
        if record.moved_after is not None:
            document["movedAfter"] = record.moved_after
        for key, value in (
            ("action", record.action),
            ("actor", record.actor),
            ("previous", record.previous),
        ):
            if value is not None:
                document[key] = value
        if platforms is not None:
            document["platforms"] = [
                {"platform": p.platform, "digest": p.digest, "size": p.size}
                for p in platforms.get(record.digest, ())
            ]
        documents.append(document)
    return documents


def _yaml(documents: list[Any]) -> str:
    # Imported here: only -o yaml pays for loading PyYAML, not every history command.
    import yaml

    text: str = yaml.safe_dump(documents, sort_keys=False, allow_unicode=True)
    return text


def _csv(records: Sequence[HistoryEntry], platforms: Platforms | None) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if platforms is None:
        writer.writerow(["updateTimestamp", "digest", "event"])
        writer.writerows([record.timestamp, record.digest, record.event] for record in records)
        return out.getvalue()
    writer.writerow(["updateTimestamp", "digest", "platform", "platformDigest", "size", "event"])
    for record in records:
        entries = platforms.get(record.digest, ())
        if not entries:
            writer.writerow([record.timestamp, record.digest, "", "", "", record.event])
        for entry in entries:
            writer.writerow(
                [
                    record.timestamp,
                    record.digest,
                    entry.platform,
                    entry.digest,
                    entry.size,
                    record.event,
                ]
            )
    return out.getvalue()


def when(record: HistoryEntry) -> str:
    """When the record happened, for people: a move a mirror saw happened between the check
    before it and its timestamp."""
    if record.moved_after is not None:
        return f"between {record.moved_after} and {record.timestamp}"
    if record.origin == "mirror":
        return f"seen {record.timestamp}"
    if record.origin == "import":
        return f"{record.timestamp} (imported)"
    return record.timestamp


def _table(records: Sequence[HistoryEntry], platforms: Platforms | None) -> str:
    if not records:
        return "no history records\n"
    width = max(len("UPDATED"), *(len(when(record)) for record in records))
    digest_width = max(len("DIGEST"), *(len(record.digest) for record in records))
    # Who and how: columns only where the registry told them (tagtrail, to those who may push).
    who = any(record.action is not None for record in records)
    # Events and actions are at most 7 letters ("created", "restore").
    lines = [f"{'UPDATED':<{width}}  {'DIGEST':<{digest_width}}  EVENT"]
    if who:
        lines[0] += "    ACTION   BY"
    for record in records:
        line = f"{when(record):<{width}}  {record.digest:<{digest_width}}  "
        if who:
            line += f"{record.event:<7}  {record.action or '-':<7}  {record.actor or 'unknown'}"
        else:
            line += record.event
        lines.append(line)
        entries = platforms.get(record.digest, ()) if platforms is not None else ()
        platform_width = max((len(entry.platform) for entry in entries), default=0)
        for entry in entries:
            lines.append(
                f"{'':<{width}}    {entry.platform:<{platform_width}}  {entry.digest}  "
                f"{entry.size} bytes"
            )
    return "\n".join(lines) + "\n"


def render(records: Sequence[HistoryEntry], output: str, platforms: Platforms | None = None) -> str:
    """``records`` in ``output`` format, in the order given."""
    if output == "json":
        return json.dumps(_documents(records, platforms), indent=2) + "\n"
    if output == "yaml":
        return _yaml(_documents(records, platforms))
    if output == "csv":
        return _csv(records, platforms)
    if output == "table":
        return _table(records, platforms)
    raise ValueError(f"unknown output format {output!r}")


def state_line(what: str, history: TagHistory) -> str:
    """The tag's state now, for people: what it points to, or that it is deleted."""
    if history.current is not None:
        return f"{what} points to {history.current}"
    if history.deleted_at is not None:
        return f"{what} is deleted (since {history.deleted_at})"
    return f"{what} is deleted (the registry does not say since when)"
