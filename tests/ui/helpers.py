"""Helpers of the UI tests: names, history through the API and seeded, datetime-local values."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import sqlalchemy as sa

from tagtrail.meta.schema import repositories, tag_history
from tests.api.helpers import TIMESTAMP_RE, Pushed


def unique(org: str) -> str:
    return f"{org}/ui-{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True)
class ApiRecord:
    digest: str
    event: str
    timestamp: str  # RFC 3339, milliseconds, UTC


def api_history(client: httpx.Client, name: str, tag: str) -> list[ApiRecord]:
    """The tag's history as the draft OCI tag-history API returns it (newest first)."""
    response = client.get(f"/v2/{name}/_oci/tag-history/{tag}")
    assert response.status_code == 200, response.text
    records = []
    for manifest in response.json()["manifests"]:
        annotations = manifest["annotations"]
        stamp = annotations["org.opencontainers.distribution.tag.timestamp"]
        assert TIMESTAMP_RE.fullmatch(stamp), stamp
        event = annotations["org.opencontainers.distribution.tag.event"]
        records.append(ApiRecord(manifest["digest"], event, stamp))
    return records


def parse_stamp(stamp: str) -> datetime:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def datetime_local(moment: datetime) -> str:
    """The value a ``datetime-local`` input holds for ``moment`` (UTC): Chromium drops zero
    milliseconds, then zero seconds."""
    text = moment.strftime("%Y-%m-%dT%H:%M")
    millis = moment.microsecond // 1000
    if moment.second or millis:
        text += f":{moment.second:02d}"
    if millis:
        text += f".{millis:03d}"
    return text


def seed_history(data_dir: Path, name: str, tag: str, records: list[tuple[int, Pushed]]) -> None:
    """Write ``tag``'s history records (timestamp in ms, manifest) straight into the server's
    SQLite database: the times a test needs (hours apart, or 1 ms apart) cannot be pushed."""
    engine = sa.create_engine(f"sqlite:///{data_dir / 'tagtrail.db'}")
    try:
        with engine.begin() as conn:
            repo_id = conn.scalar(sa.select(repositories.c.id).where(repositories.c.name == name))
            assert repo_id is not None, name
            conn.execute(
                tag_history.insert(),
                [
                    {
                        "repository_id": repo_id,
                        "tag": tag,
                        "ts_ms": ts_ms,
                        "digest": pushed.digest,
                        "event": "created",
                        "media_type": pushed.media_type,
                        "size": len(pushed.body),
                    }
                    for ts_ms, pushed in records
                ],
            )
    finally:
        engine.dispose()
