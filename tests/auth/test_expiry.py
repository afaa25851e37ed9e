"""A pull token is valid until its expiry by the policy's clock, which the test moves: for
Basic logins and for the refresh tokens that name it. The real server refusing an expired
token, and ``token list`` calling it expired, is test_accounts.py's test_token_expires."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tagtrail.accounts import PRIVATE, PullTokenRecord
from tagtrail.auth.policy import AccessPolicy
from tagtrail.auth.secrets import new_pull_token, secret_digest
from tagtrail.meta.database import Database
from tagtrail.meta.sql import SqlMetadataStore
from tagtrail.meta.sql_accounts import SqlAccountStore

pytestmark = pytest.mark.anyio

CREATED_MS = 1_700_000_000_000
TTL_MS = 2_000


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Clock:
    now: int = CREATED_MS

    def __call__(self) -> int:
        return self.now


@dataclass(frozen=True)
class Issued:
    policy: AccessPolicy
    clock: Clock
    token_id: str
    secret: str


@pytest.fixture
async def issued(tmp_path: Path) -> AsyncIterator[Issued]:
    """A pull token of ``acme`` created at CREATED_MS, expiring TTL_MS later."""
    database = await Database.open(f"sqlite:///{tmp_path / 'tagtrail.db'}")
    accounts, meta = SqlAccountStore(database), SqlMetadataStore(database)
    await accounts.add_organisation("acme", PRIVATE)
    token_id, secret = new_pull_token()
    await accounts.add_pull_token(
        PullTokenRecord(
            id=token_id,
            organisation="acme",
            secret_sha256=secret_digest(secret),
            can_push=False,
            expires_ms=CREATED_MS + TTL_MS,
            revoked_ms=None,
            description="",
            created_ms=CREATED_MS,
        )
    )
    clock = Clock()
    try:
        yield Issued(AccessPolicy(accounts, meta, meta, clock=clock), clock, token_id, secret)
    finally:
        await database.close()


async def test_a_pull_token_is_valid_until_its_expiry_by_the_policy_clock(issued: Issued) -> None:
    policy, clock = issued.policy, issued.clock
    subject = f"token:{issued.token_id}"
    for now in (CREATED_MS, CREATED_MS + TTL_MS - 1):
        clock.now = now
        principal = await policy.authenticate(issued.token_id, issued.secret)
        assert (principal.kind, principal.name) == ("pull_token", issued.token_id)
        assert await policy.principal(subject) == principal
    for now in (CREATED_MS + TTL_MS, CREATED_MS + 3_600_000):
        clock.now = now
        assert await policy.pull_token(issued.secret) is None
        assert await policy.principal(subject) is None  # its refresh tokens die with it
