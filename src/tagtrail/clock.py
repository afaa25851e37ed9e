"""The wall clock in milliseconds, the unit every stored timestamp uses.

At the bottom of the layers (beside ``types``), so that the database, the auth policy and the
use cases read one clock without importing each other (``meta.database`` brings SQLAlchemy and
Alembic with it).
"""

from __future__ import annotations

import time
from collections.abc import Callable

# What takes a clock takes one of these (tests pass a fake one): milliseconds since the epoch.
Clock = Callable[[], int]


def now_ms() -> int:
    return time.time_ns() // 1_000_000
