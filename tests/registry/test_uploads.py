"""What upload bookkeeping a process keeps: a lock per upload only while a request holds or
awaits it, and running hashes only of uploads that can still finish (a bounded number)."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tagtrail.blobs.filesystem import FilesystemDriver
from tagtrail.clock import now_ms
from tagtrail.errors import BlobUploadUnknown
from tagtrail.meta.sql import SqlMetadataStore
from tagtrail.registry.uploads import UploadLimits, Uploads, _Hashers
from tagtrail.types import Digest, parse_name

pytestmark = pytest.mark.anyio

REPO = parse_name("uploads/app")
EXPIRY_MS = 60_000


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class FakeClock:
    """Milliseconds that move only when told, from the real now: the store stamps a session's
    start with the real clock."""

    now: int = field(default_factory=now_ms)

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def uploads(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Uploads]:
    store = await SqlMetadataStore.open(f"sqlite:///{tmp_path / 'meta.db'}")
    driver = FilesystemDriver(tmp_path / "blobs")
    yield Uploads(store, store, driver, UploadLimits(expiry_ms=EXPIRY_MS), clock=clock)
    await store.close()


async def _body(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def test_patches_to_made_up_uploads_leave_no_locks(uploads: Uploads) -> None:
    for n in range(1000):
        # Well-formed ids nobody started, and ids that are not even upload ids.
        made_up = uuid.uuid4().hex if n % 2 else f"no-such-upload-{n}"
        with pytest.raises(BlobUploadUnknown):
            await uploads.append(REPO, made_up, _body(b"junk"), None)
    assert len(uploads._locks) == 0


async def test_an_uploads_lock_lives_while_requests_use_it(uploads: Uploads) -> None:
    """Two appends to one upload still take turns; once both are done, no lock is left."""
    session = await uploads.start(REPO)
    first_inside, release = asyncio.Event(), asyncio.Event()

    async def held_body() -> AsyncIterator[bytes]:
        first_inside.set()
        await release.wait()
        yield b"first"

    first = asyncio.create_task(uploads.append(REPO, session.id, held_body(), None))
    await first_inside.wait()
    second = asyncio.create_task(uploads.append(REPO, session.id, _body(b"second"), None))
    await asyncio.sleep(0.05)
    assert not second.done()  # waiting for the first one's lock
    assert list(uploads._locks) == [session.id]
    release.set()
    assert (await first).offset == len(b"first")
    assert (await second).offset == len(b"firstsecond")
    assert len(uploads._locks) == 0
    done = await uploads.finish(REPO, session.id, Digest.of(b"firstsecond"), _body())
    assert done.size == len(b"firstsecond")
    assert len(uploads._locks) == 0


async def test_an_abandoned_uploads_hash_goes_when_its_session_expires(
    uploads: Uploads, clock: FakeClock
) -> None:
    """Its client never finishes nor cancels it: once the session would have expired, the
    hash is dropped, whether anyone asks for the upload again or not."""
    abandoned = await uploads.start(REPO)
    await uploads.append(REPO, abandoned.id, _body(b"never finished"), None)
    assert list(uploads._hashers._states) == [abandoned.id]
    clock.now += EXPIRY_MS + 10_000  # past it, whatever the real clock did meanwhile
    assert len(uploads._hashers._states) == 0
    with pytest.raises(BlobUploadUnknown):  # expired for the client too
        await uploads.status(REPO, abandoned.id)


async def test_a_live_upload_keeps_its_hash_and_finishes_without_rereading(
    uploads: Uploads, clock: FakeClock
) -> None:
    session = await uploads.start(REPO)
    await uploads.append(REPO, session.id, _body(b"part one "), None)
    clock.now += EXPIRY_MS // 2
    await uploads.append(REPO, session.id, _body(b"part two"), None)
    assert session.id in uploads._hashers._states
    data = b"part one part two"
    done = await uploads.finish(REPO, session.id, Digest.of(data), _body())
    assert done.digest == Digest.of(data)
    assert len(uploads._hashers._states) == 0


def test_hashes_held_are_bounded_least_recently_used_first() -> None:
    hashers = _Hashers(EXPIRY_MS, FakeClock(), maxsize=3)
    for n in range(5):
        hashers.put(f"upload-{n}", 1, {"sha256": hashlib.sha256(b"x")})
    assert len(hashers._states) == 3
    assert hashers.get("upload-0", 1) == {}  # forgotten: completion reads the bytes instead
    assert "sha256" in hashers.get("upload-4", 1)
