"""``tagtrail history REF``: every digest a tag has pointed to, newest first by default."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from tagtrail.cli.client_common import connection_options, one_line_errors, session_pool
from tagtrail.client.errors import UsageError
from tagtrail.client.formats import FORMATS, render
from tagtrail.client.history import fetch_history
from tagtrail.client.manifests import PlatformEntry, get_manifest, platforms
from tagtrail.client.reference import parse_reference
from tagtrail.client.times import parse_moment


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "history",
        parents=[connection_options()],
        help="list every digest a tag has pointed to",
        description="The tag's whole history from the registry's Tag History API, newest "
        "first (all pages, past the 1000-record cap). TIME is an RFC 3339 timestamp, a date "
        "(YYYY-MM-DD, midnight UTC) or a duration before now (7d, 12h, 1h30m).",
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
    with session_pool(args) as pool:
        session = pool.session(reference)
        records = fetch_history(session, reference.repository, tag, start=start, end=end)
        found: dict[str, list[PlatformEntry]] | None = None
        if args.platforms:
            found = {}
            for record in records:
                if record.digest not in found:
                    manifest = get_manifest(session, reference.repository, record.digest)
                    found[record.digest] = platforms(manifest)
    if not args.oldest_first:
        records.reverse()
    sys.stdout.write(render(records, args.output, found))
    return 0
