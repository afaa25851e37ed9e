"""``tagtrail history`` of a tag a tagtrail mirror recorded: the registry's ``dev.tagtrail``
annotations become "between A and B" in the table and ``origin``/``movedAfter`` in json and
yaml; a tag with pushed records only reads as before, plus who pushed (auth is off here)."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import sqlite3

import httpx
import yaml

from tagtrail.times import format_timestamp
from tests.api.helpers import repo
from tests.client.helpers import db_history, push_moves, run_cli
from tests.server import RunningServer
from tests.ssl_context import SHARED


def mark_as_mirrored(server: RunningServer, name: str, tag: str) -> list[int]:
    """Make the tag's records what a mirror writes: the first imported from the upstream, the
    later ones seen by a check, each after the check 1 ms after the record before it."""
    stamps = [record.ts_ms for record in db_history(server, name, tag)]
    with contextlib.closing(sqlite3.connect(server.data_dir / "tagtrail.db")) as db, db:
        repo_id = db.execute("SELECT id FROM repositories WHERE name = ?", (name,)).fetchone()[0]
        for index, ts_ms in enumerate(stamps):
            action, previous = ("import", None) if index == 0 else ("mirror", stamps[index - 1] + 1)
            db.execute(
                "UPDATE tag_history SET action = ?, previous_check_ms = ? "
                "WHERE repository_id = ? AND tag = ? AND ts_ms = ?",
                (action, previous, repo_id, tag, ts_ms),
            )
    return stamps


def test_mirrored_records_read_between_two_checks(registry: RunningServer) -> None:
    name, tag = repo("client-mirror"), "v1"
    with httpx.Client(base_url=registry.url, timeout=30, verify=SHARED) as client:
        digests = push_moves(client, name, tag, 3)
    stamps = mark_as_mirrored(registry, name, tag)
    when = [format_timestamp(ms) for ms in stamps]
    after = [format_timestamp(ms + 1) for ms in stamps]
    ref = f"{registry.host}/{name}:{tag}"

    listed = run_cli("history", ref, "-o", "json", "--oldest-first")
    assert listed.code == 0, listed.err
    # Auth is off: every caller may push, so each record also says how, by whom (pushed
    # here, so anonymous), and where the tag pointed before.
    assert json.loads(listed.out) == [
        {
            "updateTimestamp": when[0],
            "digest": digests[0],
            "event": "created",
            "origin": "import",
            "action": "import",
            "actor": "anonymous",
        },
        *(
            {
                "updateTimestamp": when[i],
                "digest": digests[i],
                "event": "created",
                "origin": "mirror",
                "movedAfter": after[i - 1],
                "action": "mirror",
                "actor": "anonymous",
                "previous": digests[i - 1],
            }
            for i in (1, 2)
        ),
    ]
    as_yaml = run_cli("history", ref, "-o", "yaml", "--oldest-first")
    assert yaml.safe_load(as_yaml.out) == json.loads(listed.out)

    table = run_cli("history", ref)
    assert table.code == 0, table.err
    rows = [line.split("  ")[0].strip() for line in table.out.splitlines()[1:4]]
    assert rows == [
        f"between {after[1]} and {when[2]}",
        f"between {after[0]} and {when[1]}",
        f"{when[0]} (imported)",
    ]
    assert table.out.splitlines()[0].startswith("UPDATED ")
    # csv keeps the columns every registry gets.
    as_csv = list(csv.reader(io.StringIO(run_cli("history", ref, "-o", "csv").out)))
    assert as_csv[0] == ["updateTimestamp", "digest", "event"]
    assert as_csv[1] == [when[2], digests[2], "created"]


def test_pushed_records_read_as_before(registry: RunningServer) -> None:
    name, tag = repo("client-mirror"), "v1"
    with httpx.Client(base_url=registry.url, timeout=30, verify=SHARED) as client:
        digests = push_moves(client, name, tag, 2)
    when = [format_timestamp(r.ts_ms) for r in db_history(registry, name, tag)]
    ref = f"{registry.host}/{name}:{tag}"
    listed = run_cli("history", ref, "-o", "json", "--oldest-first")
    who = [{"action": "push", "actor": "anonymous"}, {"action": "push", "actor": "anonymous"}]
    who[1]["previous"] = digests[0]
    assert json.loads(listed.out) == [
        {"updateTimestamp": when[i], "digest": digests[i], "event": "created", **who[i]}
        for i in (0, 1)
    ]
    table = run_cli("history", ref).out.splitlines()
    assert [line.split()[0] for line in table[1:3]] == [when[1], when[0]]
