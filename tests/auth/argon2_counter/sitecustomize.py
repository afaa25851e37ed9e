"""Counts a test server's argon2 verifications (tests/auth/test_logins.py puts this directory
first on the server's PYTHONPATH, so every process of the server imports it at start-up).

Each ``PasswordHasher.verify`` appends a line to the file ``ARGON2_VERIFY_LOG`` names, before
verifying. A password starting ``slow-`` is held for ``SLOW_SECONDS`` first: long enough for
a test to see what the server does meanwhile.
"""

from __future__ import annotations

import os
import time
from typing import Any

SLOW_SECONDS = 1.5

LOG = os.environ.get("ARGON2_VERIFY_LOG", "")
if LOG:
    import argon2

    _real = argon2.PasswordHasher.verify

    def _counting(self: argon2.PasswordHasher, stored: Any, password: Any) -> Any:
        with open(LOG, "a") as out:
            out.write(f"{os.getpid()} {time.monotonic()}\n")
        if str(password).startswith("slow-"):
            time.sleep(SLOW_SECONDS)
        return _real(self, stored, password)

    argon2.PasswordHasher.verify = _counting  # type: ignore[method-assign,assignment]
