"""``tagtrail history`` shows who moved a tag and how where the registry told it (tagtrail's
``dev.tagtrail`` annotations, sent to callers who may push), and nothing of it elsewhere: the
same records without them read exactly as before."""

from __future__ import annotations

import json

from tagtrail.client.formats import render
from tagtrail.client.history import HistoryEntry

ONE = "sha256:" + "1" * 64
TWO = "sha256:" + "2" * 64
T1, T2, T3 = "2026-01-01T00:00:00.000Z", "2026-01-02T00:00:00.000Z", "2026-01-03T00:00:00.000Z"

TOLD = [
    HistoryEntry(T3, ONE, "created", action="restore", actor="alice", previous=TWO),
    HistoryEntry(T2, TWO, "created", action="push", actor="token:ttp_1", previous=ONE),
    HistoryEntry(T1, ONE, "created", action="push"),  # from before actors were kept
]
UNTOLD = [HistoryEntry(r.timestamp, r.digest, r.event) for r in TOLD]


def test_the_table_has_action_and_by_columns_where_told() -> None:
    lines = render(TOLD, "table").splitlines()
    assert lines[0].split() == ["UPDATED", "DIGEST", "EVENT", "ACTION", "BY"]
    assert [line.split()[2:] for line in lines[1:]] == [
        ["created", "restore", "alice"],
        ["created", "push", "token:ttp_1"],
        ["created", "push", "unknown"],
    ]
    # Columns line up: each starts where its heading does.
    assert {line.index("created") for line in lines[1:]} == {lines[0].index("EVENT")}
    assert {line.index(" alice") + 1 for line in lines[1:2]} == {lines[0].index("BY")}


def test_json_names_them_where_told() -> None:
    documents = json.loads(render(TOLD, "json"))
    assert documents[0] == {
        "updateTimestamp": T3,
        "digest": ONE,
        "event": "created",
        "action": "restore",
        "actor": "alice",
        "previous": TWO,
    }
    assert documents[2] == {
        "updateTimestamp": T1,
        "digest": ONE,
        "event": "created",
        "action": "push",
    }


def test_without_them_the_output_is_as_before() -> None:
    lines = render(UNTOLD, "table").splitlines()
    assert lines[0].split() == ["UPDATED", "DIGEST", "EVENT"]
    assert all(line.endswith("created") for line in lines[1:])
    assert json.loads(render(UNTOLD, "json"))[0] == {
        "updateTimestamp": T3,
        "digest": ONE,
        "event": "created",
    }
