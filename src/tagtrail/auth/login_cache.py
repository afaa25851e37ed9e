"""Recently verified passwords: repeated logins pay for argon2 once, not on every request.

argon2id is slow on purpose (100-600 ms of CPU and 64 MiB), and every crane, oras, cosign or
docker run sends the user's password to ``/token`` again, often several times. A successful
verification is remembered for a few minutes, per process:

- by ``HMAC(random key of this process, user, stored hash, password)``, never the password or
  a plain hash of it: the entries alone (a swapped page, a leaked log) give nothing to test
  guesses against. With the key too (a whole memory dump) a guess costs one HMAC, which is
  why only successes are kept, and only for minutes;
- the stored argon2 hash is part of the key, so ``tagtrail admin user passwd`` (another
  process) makes the old password miss at once, and a removed user has no stored hash to
  look up: the caller reads the account on every login;
- failures are never remembered: a wrong password costs argon2 every time;
- logins already being verified are joined, not verified again (a client starting several
  pulls at once asks for several tokens with the same credentials).

argon2 runs in a thread, off the event loop that serves every other request of the worker.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable

from cachetools import TTLCache

from tagtrail.auth.secrets import verify_password

TTL_SECONDS = 300.0
MAX_ENTRIES = 4096


def _framed(*parts: str) -> bytes:
    """Length-prefixed, so that no two (user, hash, password) triples encode alike."""
    out = bytearray()
    for part in parts:
        data = part.encode("utf-8", "surrogatepass")
        out += len(data).to_bytes(8, "big") + data
    return bytes(out)


class LoginCache:
    def __init__(
        self,
        verify: Callable[[str, str], bool] = verify_password,
        *,
        ttl: float = TTL_SECONDS,
        max_entries: int = MAX_ENTRIES,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._verify = verify
        self._key = secrets.token_bytes(32)
        self._verified: TTLCache[bytes, bool] = TTLCache(max_entries, ttl, timer)
        self._pending: dict[bytes, asyncio.Future[bool]] = {}

    def __len__(self) -> int:
        return len(self._verified)

    async def verify(self, user: str, stored_hash: str, password: str) -> bool:
        """Whether ``password`` matches ``stored_hash`` (the user's argon2 hash, as stored now)."""
        entry = hmac.digest(self._key, _framed(user, stored_hash, password), hashlib.sha256)
        if entry in self._verified:
            return True
        pending = self._pending.get(entry)
        if pending is None:
            pending = asyncio.ensure_future(asyncio.to_thread(self._verify, stored_hash, password))
            self._pending[entry] = pending
            pending.add_done_callback(lambda _: self._pending.pop(entry, None))
        # Shielded: a client hanging up must not cancel the verification others wait for.
        matched = await asyncio.shield(pending)
        if matched:
            self._verified[entry] = True
        return matched
