"""Helpers of the UI tests: names, history through the API, datetime-local values."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from tests.api.helpers import TIMESTAMP_RE


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
