"""``tagtrail history`` against a live tagtrail: every output format across 2,100 moves (three
pages of the Tag History API; the package's ``moved``), compared with what the database holds."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import httpx
import yaml

from tagtrail.times import format_timestamp
from tests.api.helpers import OCI_INDEX, repo
from tests.client.helpers import (
    MOVES,
    DbRecord,
    Moved,
    assert_one_line_error,
    db_history,
    ensure_config,
    index_of,
    push_moves,
    put_tag,
    run_cli,
    run_process,
    small_manifest,
)
from tests.server import RunningServer, free_port
from tests.ssl_context import SHARED


def expected(
    db: list[DbRecord], *, newest_first: bool = True, window: slice = slice(None), who: bool = True
) -> list[dict[str, str]]:
    """The records of ``db[window]`` as ``-o json`` lists them. The registry runs without
    auth, so every caller may push and is told who moved the tag (``anonymous``: nobody signs
    in), how, and the digest it pointed to before (from the record before, even outside the
    window). ``who`` False: without those (csv has no columns for them)."""
    records: list[dict[str, str]] = []
    for index, r in enumerate(db):
        record = {
            "updateTimestamp": format_timestamp(r.ts_ms),
            "digest": r.digest,
            "event": r.event,
        }
        records.append(record)
        if not who:
            continue
        record |= {"action": "push" if r.event == "created" else "delete", "actor": "anonymous"}
        before = db[index - 1] if index else None
        if r.event == "deleted":
            record["previous"] = r.digest
        elif before is not None and before.event == "created":
            record["previous"] = before.digest
    records = records[window]
    return records[::-1] if newest_first else records


def test_json_newest_first_matches_the_database(moved: Moved) -> None:
    result = run_cli("history", moved.ref, "-o", "json")
    assert result.code == 0, result.err
    assert result.json() == expected(moved.db)
    assert len(result.json()) == MOVES


def test_oldest_first(moved: Moved) -> None:
    result = run_cli("history", moved.ref, "-o", "json", "--oldest-first")
    assert result.code == 0, result.err
    assert result.json() == expected(moved.db, newest_first=False)


def test_yaml_matches_the_database(moved: Moved) -> None:
    result = run_cli("history", moved.ref, "-o", "yaml")
    assert result.code == 0, result.err
    assert yaml.safe_load(result.out) == expected(moved.db)


def test_csv_matches_the_database(moved: Moved) -> None:
    result = run_cli("history", moved.ref, "-o", "csv")
    assert result.code == 0, result.err
    rows = list(csv.DictReader(io.StringIO(result.out)))
    assert rows == expected(moved.db, who=False)
    assert result.out.splitlines()[0] == "updateTimestamp,digest,event"


def test_table_matches_the_database(moved: Moved) -> None:
    result = run_cli("history", moved.ref)
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].split() == ["UPDATED", "DIGEST", "EVENT", "ACTION", "BY"]
    assert [line.split() for line in lines[1:-2]] == [
        [r["updateTimestamp"], r["digest"], "created", "push", "anonymous"]
        for r in expected(moved.db)
    ]
    assert lines[-2:] == ["", f"{moved.ref} points to {moved.digests[-1]}"]
    assert result.err == ""


def test_start_and_end_window(moved: Moved) -> None:
    # A window across the first page boundary, bounds inclusive, to the millisecond.
    first, last = moved.db[900], moved.db[1700]
    result = run_cli(
        "history",
        moved.ref,
        "-o",
        "json",
        "--oldest-first",
        "--start",
        format_timestamp(first.ts_ms),
        "--end",
        format_timestamp(last.ts_ms),
    )
    assert result.code == 0, result.err
    assert result.json() == expected(moved.db, newest_first=False, window=slice(900, 1701))


def test_durations_and_dates(moved: Moved) -> None:
    recent = run_cli("history", moved.ref, "-o", "json", "--start", "1d")
    assert recent.code == 0, recent.err
    assert recent.json() == expected(moved.db)
    old = run_cli("history", moved.ref, "-o", "json", "--end", "2001-01-01")
    assert old.code == 0, old.err
    assert old.json() == []
    assert run_cli("history", moved.ref, "-o", "yaml", "--end", "2001-01-01").out == "[]\n"


def test_platforms_of_an_index(registry: RunningServer) -> None:
    name, tag = repo("client-platforms"), "latest"
    with httpx.Client(base_url=registry.url, timeout=30, verify=SHARED) as client:
        ensure_config(client, name)
        amd64, arm64 = small_manifest("amd64"), small_manifest("arm64")
        amd64_digest = put_tag(client, name, "amd64", amd64)
        arm64_digest = put_tag(client, name, "arm64", arm64)
        single = put_tag(client, name, tag, small_manifest("single"))
        index = index_of({"linux/amd64": amd64, "linux/arm64": arm64})
        index_digest = put_tag(client, name, tag, index, OCI_INDEX)
    ref = f"{registry.host}/{name}:{tag}"
    result = run_cli("history", ref, "-o", "json", "--platforms")
    assert result.code == 0, result.err
    assert [(r["digest"], r["platforms"]) for r in result.json()] == [
        (
            index_digest,
            [
                {"platform": "linux/amd64", "digest": amd64_digest, "size": len(amd64)},
                {"platform": "linux/arm64", "digest": arm64_digest, "size": len(arm64)},
            ],
        ),
        (single, []),
    ]
    table = run_cli("history", ref, "--platforms")
    assert table.code == 0, table.err
    lines = table.out.splitlines()
    assert lines[1].split()[1] == index_digest
    assert lines[2].split() == ["linux/amd64", amd64_digest, str(len(amd64)), "bytes"]
    assert lines[3].split() == ["linux/arm64", arm64_digest, str(len(arm64)), "bytes"]
    assert lines[4].split()[1] == single
    rows = list(csv.reader(io.StringIO(run_cli("history", ref, "-o", "csv", "--platforms").out)))
    assert rows[0] == ["updateTimestamp", "digest", "platform", "platformDigest", "size", "event"]
    assert [row[1:] for row in rows[1:]] == [
        [index_digest, "linux/amd64", amd64_digest, str(len(amd64)), "created"],
        [index_digest, "linux/arm64", arm64_digest, str(len(arm64)), "created"],
        [single, "", "", "", "created"],
    ]
    parsed = yaml.safe_load(run_cli("history", ref, "-o", "yaml", "--platforms").out)
    assert parsed == result.json()


def test_unknown_tag_is_one_line(registry: RunningServer) -> None:
    name = repo("client-unknown")
    with httpx.Client(base_url=registry.url, timeout=30, verify=SHARED) as client:
        push_moves(client, name, "exists", 1)
    result = run_cli("history", f"{registry.host}/{name}:missing")
    assert_one_line_error(result, "unknown tag", f"{name}:missing")
    result = run_cli("history", f"{registry.host}/{repo('client-nothing')}:latest")
    assert_one_line_error(result, "unknown repository")


def test_unreachable_registry_is_one_line_without_traceback() -> None:
    host = f"127.0.0.1:{free_port()}"
    result = run_process("history", f"{host}/some/app:latest")
    assert_one_line_error(result, "cannot reach", host)


def test_bad_input_is_one_line() -> None:
    assert_one_line_error(run_cli("history", "Bad/Name:latest"), "invalid reference")
    assert_one_line_error(
        run_cli("history", "127.0.0.1:1/a/b:latest", "--start", "yesterday"), "not a time"
    )
    assert_one_line_error(
        run_cli("history", "127.0.0.1:1/a/b:latest", "--start", "1d", "--end", "2d"),
        "is after",
    )


def test_plain_http_flag_and_scheme(registry: RunningServer, moved: Moved, tmp_path: Path) -> None:
    # A plain-HTTP localhost is found after HTTPS fails; an explicit scheme is honoured.
    localhost = moved.ref.replace("127.0.0.1", "localhost")
    assert run_cli("history", localhost, "-o", "json").json() == expected(moved.db)
    explicit = run_cli("history", f"http://{moved.ref}", "-o", "json")
    assert explicit.json() == expected(moved.db)
    flag = run_cli("history", moved.ref, "-o", "json", "--plain-http")
    assert flag.json() == expected(moved.db)
    https = run_cli("history", f"https://{moved.ref}")
    assert_one_line_error(
        https,
        f"cannot reach https://{registry.host}: the registry answered plain HTTP, not TLS",
        f"use http://{registry.host}/... or --plain-http",
    )


def test_deletions_and_the_state_now(registry: RunningServer) -> None:
    name, tag = repo("client-deleted"), "prod"
    with httpx.Client(base_url=registry.url, timeout=30, verify=SHARED) as client:
        first, second = push_moves(client, name, tag, 2)
        assert client.delete(f"/v2/{name}/manifests/{tag}").status_code == 202
    db = db_history(registry, name, tag)
    assert [(r.digest, r.event) for r in db] == [
        (first, "created"),
        (second, "created"),
        (second, "deleted"),
    ]
    ref, deleted_at = f"{registry.host}/{name}:{tag}", format_timestamp(db[2].ts_ms)
    result = run_cli("history", ref, "-o", "json")
    assert result.code == 0, result.err
    assert result.json() == expected(db)
    assert result.json()[0] == {
        "updateTimestamp": deleted_at,
        "digest": second,
        "event": "deleted",
        "action": "delete",
        "actor": "anonymous",
        "previous": second,
    }
    assert result.err == f"tagtrail: note: {ref} is deleted (since {deleted_at})\n"
    assert yaml.safe_load(run_cli("history", ref, "-o", "yaml").out) == expected(db)
    rows = list(csv.DictReader(io.StringIO(run_cli("history", ref, "-o", "csv").out)))
    assert rows == expected(db, who=False)
    table = run_cli("history", ref)
    assert table.code == 0, table.err
    lines = table.out.splitlines()
    assert lines[1].split() == [deleted_at, second, "deleted", "delete", "anonymous"]
    assert lines[-1] == f"{ref} is deleted (since {deleted_at})"
    # A window that ends before the deletion still tells what the tag is now.
    before = run_cli("history", ref, "--end", format_timestamp(db[1].ts_ms))
    assert [line.split()[2] for line in before.out.splitlines()[1:-2]] == ["created"] * 2
    assert before.out.splitlines()[-1] == f"{ref} is deleted (since {deleted_at})"
    # --start is inclusive to the millisecond: a microsecond later leaves that record out.
    since = run_cli("history", ref, "-o", "json", "--start", format_timestamp(db[1].ts_ms))
    assert since.json() == expected(db, window=slice(1, None))
    later = format_timestamp(db[1].ts_ms).replace("Z", "001Z")
    assert run_cli("history", ref, "-o", "json", "--start", later).json() == expected(
        db, window=slice(2, None)
    )
    # Tagged again, the tag is live.
    with httpx.Client(base_url=registry.url, timeout=30, verify=SHARED) as client:
        again = put_tag(client, name, tag, small_manifest(f"{name}:{tag}#again"))
    live = run_cli("history", ref)
    assert live.code == 0, live.err
    assert live.out.splitlines()[1].split()[1:] == [again, "created", "push", "anonymous"]
    assert live.out.splitlines()[-1] == f"{ref} points to {again}"
    assert run_cli("history", ref, "-o", "json").err == ""
