"""The gc policy the metadata tests run: an hour's grace, every history record and untagged
manifest kept, collecting for real. A test names only what it changes."""

from __future__ import annotations

import dataclasses
from typing import Any

from tagtrail.clock import now_ms
from tagtrail.meta.garbage import GcPolicy

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


def gc_policy(later_ms: int = 2 * HOUR_MS, /, **overrides: Any) -> GcPolicy:
    """The policy of a gc run ``later_ms`` from now: object stores can't back-date what they
    hold, gc's clock can."""
    default = GcPolicy(
        now_ms=now_ms() + later_ms,
        grace_ms=HOUR_MS,
        retention_ms=None,
        delete_untagged=False,
        dry_run=False,
    )
    return dataclasses.replace(default, **overrides)
