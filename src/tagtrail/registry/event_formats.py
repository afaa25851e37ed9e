"""What a webhook receives: an event as a CloudEvents 1.0 or a Distribution notification body,
and the headers every request carries (the event's id, the HMAC-SHA256 signature).

CloudEvents (structured mode, https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/
formats/json-format.md): one event a request, ``type`` ``dev.tagtrail.tag.moved``, ``.deleted``
or ``.restored``, ``subject`` ``<name>:<tag>``, ``data`` with the move.

Distribution (the notifications of CNCF Distribution, Docker's registry): an envelope
``{"events": [...]}`` of ``application/vnd.docker.distribution.events.v2+json`` with one
event, ``action`` ``push`` (any move, restore and mirror included) or ``delete``, and a
``target`` naming the manifest, so that receivers written for Distribution work unchanged.

Both carry the event's id, stable across retries and replicas (the outbox row's): a receiver
de-duplicates by it, and it is in the ``X-Tagtrail-Event-Id`` header too. With a secret, the
body is signed as GitHub signs its webhooks: ``X-Tagtrail-Signature: sha256=<hex HMAC-SHA256
of the body>``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from tagtrail.meta.webhooks import Event, Format
from tagtrail.times import format_timestamp

CLOUDEVENTS_TYPE = "application/cloudevents+json; charset=utf-8"
DISTRIBUTION_TYPE = "application/vnd.docker.distribution.events.v2+json"
EVENT_ID_HEADER = "X-Tagtrail-Event-Id"
SIGNATURE_HEADER = "X-Tagtrail-Signature"
USER_AGENT = "tagtrail-webhook"


@dataclass(frozen=True)
class Request:
    """The body and headers of one delivery's POST."""

    body: bytes
    headers: dict[str, str]


def cloudevents_type(event: Event) -> str:
    if event.event == "deleted":
        return "dev.tagtrail.tag.deleted"
    return "dev.tagtrail.tag.restored" if event.action == "restore" else "dev.tagtrail.tag.moved"


def cloudevent(event: Event, source: str) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": event.id,
        "source": source,
        "type": cloudevents_type(event),
        "subject": f"{event.repository}:{event.tag}",
        "time": format_timestamp(event.timestamp_ms),
        "datacontenttype": "application/json",
        "data": {
            "repository": event.repository,
            "tag": event.tag,
            # A deleted tag points nowhere: its digest is what it pointed at, as "previous".
            "digest": None if event.event == "deleted" else event.digest,
            "previous": event.previous,
            "mediaType": event.media_type,
            "size": event.size,
            "actor": event.actor,
            "action": event.action,
            "time": format_timestamp(event.timestamp_ms),
        },
    }


def distribution_envelope(event: Event, source: str) -> dict[str, Any]:
    host = source.split("://", 1)[-1].split("/", 1)[0]
    return {
        "events": [
            {
                "id": event.id,
                "timestamp": format_timestamp(event.timestamp_ms),
                "action": "delete" if event.event == "deleted" else "push",
                "target": {
                    "mediaType": event.media_type,
                    "digest": event.digest,
                    "size": event.size,
                    "length": event.size,
                    "repository": event.repository,
                    "url": f"{source}/v2/{event.repository}/manifests/{event.digest}",
                    "tag": event.tag,
                },
                # The request that made the move is not kept; the event's id stands in.
                "request": {"id": event.id, "host": host, "method": _method(event)},
                "actor": {"name": event.actor or ""},
                "source": {"addr": host, "instanceID": source},
            }
        ]
    }


def _method(event: Event) -> str:
    if event.event == "deleted":
        return "DELETE"
    return "POST" if event.action == "restore" else "PUT"


def request(event: Event, format: Format, source: str, secret: str | None) -> Request:
    """The POST of ``event`` in ``format``, signed with ``secret`` when there is one."""
    if format == "distribution":
        document, content_type = distribution_envelope(event, source), DISTRIBUTION_TYPE
    else:
        document, content_type = cloudevent(event, source), CLOUDEVENTS_TYPE
    body = json.dumps(document, separators=(",", ":")).encode()
    headers = {
        "Content-Type": content_type,
        "User-Agent": USER_AGENT,
        EVENT_ID_HEADER: event.id,
    }
    if secret is not None:
        headers[SIGNATURE_HEADER] = signature(body, secret)
    return Request(body, headers)


def signature(body: bytes, secret: str) -> str:
    """``sha256=<hex>``: the HMAC-SHA256 of ``body`` under ``secret`` (GitHub's scheme)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
