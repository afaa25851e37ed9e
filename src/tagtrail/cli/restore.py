"""``tagtrail restore REF --to DIGEST | --at TIME``: move a tag back to an earlier digest.

Where the registry has tagtrail's restore endpoint (``client.restore``), the registry checks
the digest against the tag's own history and records the move as a restore, by whom, in one
request. Elsewhere it uses the standard API (GET the manifest by digest, PUT it to the tag), so
it works on any registry.
"""

from __future__ import annotations

import argparse
from typing import Any

from tagtrail.cli.client_common import connection_options, note, one_line_errors, session_pool
from tagtrail.client.errors import UnexpectedResponse, UsageError
from tagtrail.client.history import digest_at, fallback_note, required_digest
from tagtrail.client.manifests import get_manifest, put_manifest, resolve_tag
from tagtrail.client.reference import parse_reference
from tagtrail.client.restore import restore_tag
from tagtrail.client.times import parse_moment
from tagtrail.errors import RegistryError
from tagtrail.types import Digest


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "restore",
        parents=[connection_options()],
        help="move a tag back to an earlier digest",
        description="Point REF's tag at DIGEST again, or at the digest it had at TIME (from "
        "the registry's tag history): through tagtrail's restore endpoint, which records the "
        "move as a restore, or elsewhere by GETting that manifest and PUTting it to the tag.",
    )
    parser.add_argument("reference", metavar="REF", help="the tag to move, e.g. host/app:prod")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--to", metavar="DIGEST", help="the digest to point the tag at")
    target.add_argument(
        "--at", metavar="TIME", help="the moment whose digest to restore (timestamp, date, 7d)"
    )
    parser.set_defaults(run=one_line_errors(run))


def run(args: argparse.Namespace) -> int:
    reference = parse_reference(args.reference)
    if reference.digest is not None:
        raise UsageError(f"{args.reference} names a digest: name the tag, and the digest --to")
    tag = reference.tag_or_latest
    what = str(reference.with_tag(tag))
    at = parse_moment(args.at) if args.at else None
    if args.to is not None:
        try:
            target = str(Digest.parse(args.to))
        except RegistryError as exc:
            raise UsageError(f"--to {args.to!r} is not a digest (sha256:<64 hex>)") from exc
    with session_pool(args) as pool:
        session = pool.session(reference)
        restored = restore_tag(
            session, reference.repository, tag, digest=None if at else target, at=at
        )
        if restored is not None:
            if not restored.moved:
                print(f"{what} already points to {restored.digest}")
            else:
                print(f"{what}: {restored.previous or '(no tag)'} -> {restored.digest}")
            return 0
        if at is not None:
            point = digest_at(session, reference.repository, tag, at)
            if not point.sees_deletions:
                note(fallback_note(session.host, reference.repository, tag, at))
            target = required_digest(point, what, at)
        current = resolve_tag(session, reference.repository, tag)
        if current == target:
            print(f"{what} already points to {target}")
            return 0
        manifest = get_manifest(session, reference.repository, target)
        if manifest.digest != target:
            raise UnexpectedResponse(
                f"{session.host} answered the manifest {target} with {manifest.digest}"
            )
        moved = put_manifest(session, reference.repository, tag, manifest)
    print(f"{what}: {current or '(no tag)'} -> {moved}")
    return 0
