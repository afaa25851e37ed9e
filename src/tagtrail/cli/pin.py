"""``tagtrail pin PATH...``: pin image references in place to ``name:tag@sha256:...``."""

from __future__ import annotations

import argparse
import difflib
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from tagtrail.cli.client_common import connection_options, note, one_line_errors, session_pool
from tagtrail.client.pinning import Cooldown, Plan, TagResolver, make_plan
from tagtrail.client.rewrite import SKIPPED_FILE, Loaded, load
from tagtrail.client.times import parse_moment
from tagtrail.times import DURATION_EXAMPLES, parse_duration


def cooldown(raw: str) -> Cooldown:
    """``--min-age``'s duration, read as every duration on the command line is."""
    try:
        age = parse_duration(raw.strip())
    except (ValueError, OverflowError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    if age <= timedelta():
        raise argparse.ArgumentTypeError(f"not a positive duration: {raw!r} ({DURATION_EXAMPLES})")
    return Cooldown(age, raw.strip())


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "pin",
        parents=[connection_options()],
        help="pin image references in Dockerfiles, compose files and Kubernetes manifests",
        description="Rewrite image references in place to name:tag@sha256:... (the tag kept): "
        "Dockerfile/Containerfile FROM lines, compose and Kubernetes image: keys. Directories "
        "are walked. Only the reference is edited; formatting and comments are kept.",
    )
    parser.add_argument("paths", metavar="PATH", nargs="+", type=Path)
    when = parser.add_mutually_exclusive_group()
    when.add_argument(
        "--at",
        metavar="TIME",
        help="pin to the digest each tag had at TIME (needs a tag history API)",
    )
    when.add_argument(
        "--min-age",
        metavar="DURATION",
        type=cooldown,
        help="cooldown: pin to the newest digest each tag has pointed to for at least DURATION "
        "(7d, 12h, 1h30m; needs a tag history API); with --check, pins younger than that fail",
    )
    parser.add_argument(
        "--update", action="store_true", help="re-resolve references that are already pinned"
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true", help="print a diff, change nothing")
    mode.add_argument(
        "--check",
        action="store_true",
        help="change nothing; exit 1 listing unpinned or stale references, else print a "
        "summary (for CI)",
    )
    parser.add_argument(
        "--exclude",
        metavar="PATTERN",
        action="append",
        default=[],
        help="skip paths matching this glob (name or path relative to a PATH); repeatable",
    )
    parser.set_defaults(run=one_line_errors(run))


def _diff(path: Path, old: str, new: str) -> str:
    """A unified diff; relative paths get git's a/ and b/ prefixes (for ``patch -p1``)."""
    name = path.as_posix()
    before, after = (name, name) if path.is_absolute() else (f"a/{name}", f"b/{name}")
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), before, after
    )
    return "".join(
        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines
    )


def _report(loaded: Loaded, plan: Plan) -> None:
    for path in loaded.skipped:
        print(f"{path}: {SKIPPED_FILE}", file=sys.stderr)
    for skipped in plan.skipped:
        print(f"{skipped.path}:{skipped.line}: {skipped.text}: {skipped.message}", file=sys.stderr)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _check_summary(loaded: Loaded, plan: Plan) -> str:
    checked = f"{_count(plan.references, 'image reference')} in {_count(len(loaded.files), 'file')}"
    if plan.problems or plan.failures:
        return (
            f"tagtrail: {len(plan.problems)} unpinned or stale and {len(plan.failures)} "
            f"unresolved of {checked}"
        )
    return f"{checked}: all pinned and current"


def run(args: argparse.Namespace) -> int:
    loaded = load(args.paths, args.exclude)
    at = parse_moment(args.at) if args.at else None
    with session_pool(args) as pool:
        resolver = TagResolver(pool, at, cooldown=args.min_age)
        plan = make_plan(
            loaded.files,
            resolver,
            update=args.update,
            check=args.check,
            describe=resolver.describe,
        )
    _report(loaded, plan)
    for message in dict.fromkeys(resolver.notes):
        note(message)
    for failure in plan.failures:
        print(
            f"tagtrail: {failure.path}:{failure.line}: cannot resolve {failure.text}: "
            f"{failure.message}",
            file=sys.stderr,
        )
    if args.check:
        for problem in plan.problems:
            print(f"{problem.path}:{problem.line}: {problem.text}: {problem.message}")
        if plan.problems or plan.failures:
            print(_check_summary(loaded, plan), file=sys.stderr)
            return 1
        print(_check_summary(loaded, plan))
        return 0
    if plan.failures:
        print("tagtrail: nothing was changed", file=sys.stderr)
        return 1
    if args.dry_run:
        for path, (old, new) in plan.rewritten.items():
            sys.stdout.write(_diff(path, old, new))
        return 0
    for path, (_, new) in plan.rewritten.items():
        path.write_bytes(new.encode("utf-8"))
    for change in plan.changes:
        print(f"{change.path}:{change.line}: {change.kind} {change.old} -> {change.new}")
    if not plan.changes:
        print("nothing to pin", file=sys.stderr)
    return 0
