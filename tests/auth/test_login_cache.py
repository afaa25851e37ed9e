"""The login cache on its own: what it remembers, for how long, under which key, and that
argon2 runs off the event loop. (tests/auth/test_logins.py: the same through a real server.)"""

from __future__ import annotations

import asyncio
import hashlib
import threading

import pytest

from tagtrail.auth.login_cache import MAX_ENTRIES, TTL_SECONDS, LoginCache
from tagtrail.auth.secrets import hash_password


class Verifier:
    """Stands in for argon2: counts calls; ``gate`` (when set) holds each until opened."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.calls: list[tuple[str, str]] = []
        self.threads: set[int] = set()
        self.gate = gate
        self.started = threading.Event()

    def __call__(self, stored: str, password: str) -> bool:
        self.calls.append((stored, password))
        self.threads.add(threading.get_ident())
        self.started.set()
        if self.gate is not None and not self.gate.wait(3):
            return False
        return stored == f"hash-of-{password}"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_defaults_are_minutes_and_bounded() -> None:
    assert 60 <= TTL_SECONDS <= 600
    assert 100 <= MAX_ENTRIES <= 100_000


def test_a_success_is_verified_once_then_remembered_until_it_expires() -> None:
    verify, clock = Verifier(), Clock()
    cache = LoginCache(verify, ttl=300, timer=clock)

    async def run() -> None:
        for _ in range(5):
            assert await cache.verify("alice", "hash-of-pw", "pw")
        assert len(verify.calls) == 1
        clock.now += 299
        assert await cache.verify("alice", "hash-of-pw", "pw")
        assert len(verify.calls) == 1
        clock.now += 2
        assert await cache.verify("alice", "hash-of-pw", "pw")
        assert len(verify.calls) == 2

    asyncio.run(run())


def test_failures_are_never_remembered() -> None:
    verify = Verifier()
    cache = LoginCache(verify)

    async def run() -> None:
        for _ in range(3):
            assert not await cache.verify("alice", "hash-of-pw", "wrong")
        assert len(verify.calls) == 3
        assert len(cache) == 0

    asyncio.run(run())


def test_the_stored_hash_user_and_password_all_make_the_key() -> None:
    verify = Verifier()
    cache = LoginCache(verify)

    async def run() -> None:
        assert await cache.verify("alice", "hash-of-pw", "pw")
        # A changed password: a new stored hash, so the old password is checked against it.
        assert not await cache.verify("alice", "hash-of-new", "pw")
        assert not await cache.verify("bob", "hash-of-new", "pw")
        # Framed, not concatenated: ("alice", "hash-of-pw", "pw") must not match these.
        assert not await cache.verify("alic", "ehash-of-pw", "pw")
        assert not await cache.verify("alice", "hash-of-p", "wpw")
        assert len(verify.calls) == 5

    asyncio.run(run())


def test_entries_hold_no_unkeyed_hash_of_the_password() -> None:
    cache = LoginCache(Verifier())
    asyncio.run(cache.verify("alice", "hash-of-pw", "pw"))
    other = LoginCache(Verifier())
    asyncio.run(other.verify("alice", "hash-of-pw", "pw"))
    (entry,) = cache._verified.keys()
    (elsewhere,) = other._verified.keys()
    assert entry != elsewhere  # a random key per process
    for text in ("pw", "alice\0pw", "alicepw", "alice:pw", "hash-of-pwpw"):
        assert entry != hashlib.sha256(text.encode()).digest()


def test_the_cache_is_bounded() -> None:
    verify = Verifier()
    cache = LoginCache(verify, max_entries=3)

    async def run() -> None:
        for n in range(10):
            assert await cache.verify(f"user{n}", f"hash-of-pw{n}", f"pw{n}")
        assert len(cache) == 3
        assert await cache.verify("user9", "hash-of-pw9", "pw9")  # the newest stays
        assert len(verify.calls) == 10

    asyncio.run(run())


def test_verification_runs_in_a_thread_and_concurrent_logins_share_it() -> None:
    """The verifier blocks until the event loop itself opens the gate: on the loop's thread
    it could never return True."""
    gate = threading.Event()
    verify = Verifier(gate)
    cache = LoginCache(verify)

    async def run() -> list[bool]:
        logins = [asyncio.create_task(cache.verify("a", "hash-of-pw", "pw")) for _ in range(5)]
        assert await asyncio.to_thread(verify.started.wait, 10)
        gate.set()
        return await asyncio.gather(*logins)

    assert asyncio.run(run()) == [True] * 5
    assert len(verify.calls) == 1
    assert threading.get_ident() not in verify.threads


def test_a_caller_hanging_up_does_not_cancel_the_others_verification() -> None:
    gate = threading.Event()
    verify = Verifier(gate)
    cache = LoginCache(verify)

    async def run() -> bool:
        first = asyncio.create_task(cache.verify("a", "hash-of-pw", "pw"))
        second = asyncio.create_task(cache.verify("a", "hash-of-pw", "pw"))
        assert await asyncio.to_thread(verify.started.wait, 10)
        first.cancel()
        gate.set()
        with pytest.raises(asyncio.CancelledError):
            await first
        return await second

    assert asyncio.run(run())
    assert len(verify.calls) == 1


def test_real_argon2_hashes() -> None:
    stored = hash_password("correct horse")
    cache = LoginCache()

    async def run() -> None:
        assert await cache.verify("alice", stored, "correct horse")
        assert not await cache.verify("alice", stored, "wrong horse")
        assert not await cache.verify("alice", "not-an-argon2-hash", "correct horse")

    asyncio.run(run())
