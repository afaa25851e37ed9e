"""``tagtrail history REF``: every digest a tag has pointed to and every deletion, newest first
by default, and whether the tag is deleted now."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from tagtrail.cli.client_common import connection_options, note, one_line_errors, session_pool
from tagtrail.client.errors import UsageError
from tagtrail.client.formats import FORMATS, render, state_line
from tagtrail.client.history import deletions_note, tag_history
from tagtrail.client.manifests import PlatformEntry, get_manifest, platforms
from tagtrail.client.reference import parse_reference
from tagtrail.client.times import parse_moment


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "history",
        parents=[connection_options()],
        help="list every digest a tag has pointed to",
        description="The tag's whole history, newest first (all pages, past the 1000-record "
        "cap): its moves and deletions from the draft OCI tag-history API where the registry "
        "serves it, else its moves from the Tag History API (_chainguard/history); the table "
        "ends with what the tag points to now, or that it is deleted. TIME is an RFC 3339 "
        "timestamp, a date (YYYY-MM-DD, midnight UTC) or a duration before now (7d, 12h, "
        "1h30m).",
    )
    parser.add_argument("reference", metavar="REF", help="e.g. cgr.dev/chainguard/python:latest")
    parser.add_argument("--oldest-first", action="store_true", help="oldest record first")
    parser.add_argument("--start", metavar="TIME", help="only records at or after TIME")
    parser.add_argument("--end", metavar="TIME", help="only records at or before TIME")
    parser.add_argument("-o", "--output", choices=FORMATS, default="table", help="output format")
    parser.add_argument(
        "--platforms",
        action="store_true",
        help="for a digest that is an index, each platform's digest and size",
    )
    parser.set_defaults(run=one_line_errors(run))


def run(args: argparse.Namespace) -> int:
    reference = parse_reference(args.reference, require_tag=True)
    start = parse_moment(args.start) if args.start else None
    end = parse_moment(args.end) if args.end else None
    if start is not None and end is not None and start > end:
        raise UsageError(f"--start {args.start} is after --end {args.end}")
    tag = reference.tag_or_latest
    what = str(reference.with_tag(tag))
    with session_pool(args) as pool:
        session = pool.session(reference)
        history = tag_history(session, reference.repository, tag, start=start, end=end)
        found: dict[str, list[PlatformEntry]] | None = None
        if args.platforms:
            found = {}
            for record in history.records:
                if record.digest not in found:
                    manifest = get_manifest(session, reference.repository, record.digest)
                    found[record.digest] = platforms(manifest)
    if not history.sees_deletions:
        note(deletions_note(session.host, reference.repository, tag))
    records = history.records if args.oldest_first else history.records[::-1]
    sys.stdout.write(render(records, args.output, found))
    if args.output == "table":
        print(f"\n{state_line(what, history)}")
    elif history.current is None:
        # Programs read the records; a person watching them still learns the tag is gone.
        note(state_line(what, history))
    return 0
