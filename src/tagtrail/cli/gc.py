"""``tagtrail gc``: remove what no kept manifest needs, and expired upload sessions."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from tagtrail.cli.common import StorageMissing, run_on_database, settings_from, storage_options

if TYPE_CHECKING:
    from tagtrail.config import Settings
    from tagtrail.meta.database import Database
    from tagtrail.registry.gc import GcProgress, GcReport

_DAY_MS = 86_400_000
_FLAGS = {"history_retention_days": "--retention-days", "gc_grace_seconds": "--grace-seconds"}


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "gc",
        parents=[storage_options()],
        help="garbage-collect blobs, manifests and upload sessions",
        description=(
            "Remove blobs no kept manifest references, expired upload sessions, and blob "
            "bytes or upload data in storage that no database row records; with "
            "--delete-untagged also manifests never tagged. Kept always: what a current tag "
            "reaches, what history records within the retention window name, referrers of "
            "kept manifests, anything younger than the grace period. Safe while serving. "
            "Refuses to run unless the blob storage's marker names the database's store "
            "identity (a server writes it when it first starts on the two). Shows progress "
            "when standard error is a terminal."
        ),
    )
    parser.add_argument("--dry-run", action="store_true", help="list what would go, keep it")
    parser.add_argument(
        "--delete-untagged",
        action="store_true",
        help="also remove manifests pushed by digest alone that nothing kept reaches",
    )
    parser.add_argument(
        "--retention-days",
        type=int,
        metavar="DAYS",
        help="history window (default: the setting, forever)",
    )
    parser.add_argument(
        "--grace-seconds", type=int, metavar="SECONDS", help="spare younger things (default 3600)"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    settings = settings_from(
        args,
        flags=_FLAGS,
        history_retention_days=args.retention_days,
        gc_grace_seconds=args.grace_seconds,
    )
    if settings is None:
        return 2

    async def act(database: Database) -> int:
        from tagtrail.cli.gc_progress import gc_progress
        from tagtrail.cli.store_check import refusal
        from tagtrail.meta.store_identity import IdentityMissing
        from tagtrail.registry.store_guard import StoreMismatch

        try:
            with gc_progress() as progress:
                report = await collect(
                    database, settings, args.dry_run, args.delete_untagged, progress
                )
        except StoreMismatch as exc:
            print(refusal(exc, settings, "gc refused, nothing was deleted"), file=sys.stderr)
            return 1
        except IdentityMissing as exc:
            print(f"tagtrail: gc refused, nothing was deleted: {exc}", file=sys.stderr)
            return 1
        print_report(report, args.dry_run)
        return 0

    return run_on_database(settings, act)


async def collect(
    database: Database,
    settings: Settings,
    dry_run: bool,
    delete_untagged: bool,
    progress: GcProgress | None = None,
) -> GcReport:
    from tagtrail.blobs.factory import open_driver
    from tagtrail.clock import now_ms
    from tagtrail.meta.garbage import GcPolicy
    from tagtrail.meta.sql_garbage import SqlGarbageStore
    from tagtrail.registry.gc import GarbageCollector

    if settings.blob_store == "filesystem" and not settings.data_dir.is_dir():
        # The filesystem driver makes its directories: gc must not leave an empty store.
        raise StorageMissing(f"no blob storage at {settings.data_dir.resolve()}")
    retention = settings.history_retention_days
    policy = GcPolicy(
        now_ms=now_ms(),
        grace_ms=settings.gc_grace_seconds * 1000,
        retention_ms=None if retention is None else retention * _DAY_MS,
        delete_untagged=delete_untagged,
        dry_run=dry_run,
    )
    driver = await open_driver(settings)
    try:
        collector = GarbageCollector(SqlGarbageStore(database), driver, progress)
        return await collector.run(policy, settings.upload_expiry_seconds * 1000)
    finally:
        await driver.close()


def print_report(report: GcReport, dry_run: bool) -> None:
    from rich.filesize import decimal

    from tagtrail.registry.gc_orphans import ORPHANED

    verb = "would remove" if dry_run else "removed"
    for item in report.collected:
        where = f" {item.repository}" if item.repository else ""
        print(f"{verb} {item.kind}{where} {item.digest} ({decimal(item.size)})")
    for upload in report.expired_uploads:
        print(f"{verb} expired upload {upload}")
    for upload in report.orphaned_uploads:
        print(f"{verb} orphaned upload {upload}")
    kinds = ("manifest", "blob", "blob bytes", ORPHANED)
    counts = {kind: sum(c.kind == kind for c in report.collected) for kind in kinds}
    summary = ", ".join(f"{n} {kind}" for kind, n in counts.items())
    frees = "would free" if dry_run else "freed"
    print(
        f"gc: {summary}, {len(report.expired_uploads)} expired uploads, "
        f"{len(report.orphaned_uploads)} orphaned uploads; {frees} {decimal(report.freed_bytes)}"
    )
