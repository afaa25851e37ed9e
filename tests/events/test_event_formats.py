"""The two bodies a webhook receives, read as their receivers read them, and the signature."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime
from typing import Any

import pytest

from tagtrail.meta.webhooks import Event
from tagtrail.registry.event_formats import (
    DISTRIBUTION_TYPE,
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    request,
)

SOURCE = "https://registry.example.com"
OLD = "sha256:" + "a" * 64
NEW = "sha256:" + "b" * 64


def event(kind: str = "created", action: str = "push", previous: str | None = OLD) -> Event:
    return Event(
        id="0b0e8c1e-6f7a-4c1e-9a59-5d7c3b7d9f10",
        repository="acme/app",
        tag="latest",
        timestamp_ms=1_700_000_000_123,
        event=kind,
        action=action,
        actor="alice",
        digest=NEW if kind == "created" else OLD,
        previous=previous,
        media_type="application/vnd.oci.image.manifest.v1+json",
        size=512,
    )


def rfc3339(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.parametrize(
    ("kind", "action", "type_"),
    [
        ("created", "push", "dev.tagtrail.tag.moved"),
        ("created", "mirror", "dev.tagtrail.tag.moved"),
        ("created", "restore", "dev.tagtrail.tag.restored"),
        ("deleted", "delete", "dev.tagtrail.tag.deleted"),
    ],
)
def test_cloudevents_structured_mode(kind: str, action: str, type_: str) -> None:
    sent = request(event(kind, action), "cloudevents", SOURCE, None)
    assert sent.headers["Content-Type"].startswith("application/cloudevents+json")
    document = json.loads(sent.body)
    # The attributes CloudEvents 1.0 requires, and those it defines that we set.
    assert document["specversion"] == "1.0"
    assert document["id"] == sent.headers[EVENT_ID_HEADER] == event().id
    assert document["source"] == SOURCE
    assert document["type"] == type_
    assert document["subject"] == "acme/app:latest"
    assert document["datacontenttype"] == "application/json"
    assert rfc3339(document["time"]).timestamp() == 1_700_000_000.123
    data = document["data"]
    assert {k: data[k] for k in ("repository", "tag", "actor", "action")} == {
        "repository": "acme/app",
        "tag": "latest",
        "actor": "alice",
        "action": action,
    }
    assert data["time"] == document["time"]
    if kind == "deleted":
        assert (data["digest"], data["previous"]) == (None, OLD)
    else:
        assert (data["digest"], data["previous"]) == (NEW, OLD)


def distribution_events(body: bytes, content_type: str) -> list[dict[str, Any]]:
    """The envelope as Distribution's receivers decode it (notifications.Envelope in Go:
    typed fields, unknown ones ignored): a field of the wrong type fails here as there."""
    assert content_type == DISTRIBUTION_TYPE
    envelope = json.loads(body)
    decoded = []
    for item in envelope["events"]:
        target, req, actor, source = item["target"], item["request"], item["actor"], item["source"]
        for text in (
            item["id"],
            item["action"],
            target["mediaType"],
            target["digest"],
            target["repository"],
            target["url"],
            target["tag"],
            req["id"],
            req["host"],
            req["method"],
            actor["name"],
            source["addr"],
            source["instanceID"],
        ):
            assert isinstance(text, str)
        assert isinstance(target["size"], int) and isinstance(target["length"], int)
        assert item["action"] in ("push", "pull", "mount", "delete")
        rfc3339(item["timestamp"])  # Go's time.Time: RFC 3339
        decoded.append(item)
    return decoded


def test_distribution_envelope_push_and_delete() -> None:
    pushed = request(event(), "distribution", SOURCE, None)
    (item,) = distribution_events(pushed.body, pushed.headers["Content-Type"])
    assert item["id"] == pushed.headers[EVENT_ID_HEADER] == event().id
    assert item["action"] == "push"
    assert item["target"] == {
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": NEW,
        "size": 512,
        "length": 512,
        "repository": "acme/app",
        "url": f"{SOURCE}/v2/acme/app/manifests/{NEW}",
        "tag": "latest",
    }
    assert item["actor"] == {"name": "alice"}
    assert item["request"]["host"] == item["source"]["addr"] == "registry.example.com"
    deleted = request(event("deleted", "delete"), "distribution", SOURCE, None)
    (gone,) = distribution_events(deleted.body, deleted.headers["Content-Type"])
    assert (gone["action"], gone["target"]["digest"]) == ("delete", OLD)


@pytest.mark.parametrize("format_", ["cloudevents", "distribution"])
def test_signed_with_the_secret_and_unsigned_without(format_: str) -> None:
    signed = request(event(), format_, SOURCE, "s3cret")  # type: ignore[arg-type]
    expected = hmac.new(b"s3cret", signed.body, hashlib.sha256).hexdigest()
    assert signed.headers[SIGNATURE_HEADER] == f"sha256={expected}"
    other = hmac.new(b"other", signed.body, hashlib.sha256).hexdigest()
    assert signed.headers[SIGNATURE_HEADER] != f"sha256={other}"
    assert b"s3cret" not in signed.body
    unsigned = request(event(), format_, SOURCE, None)  # type: ignore[arg-type]
    assert SIGNATURE_HEADER not in unsigned.headers
