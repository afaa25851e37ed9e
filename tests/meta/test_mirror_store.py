"""Contract of the mirror store (``meta.mirrors``) on every backend, and its sealed passwords."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy import text

from tagtrail.accounts import Visibility
from tagtrail.errors import Conflict
from tagtrail.meta.credentials import KEY_FILE, CredentialBox, CredentialKeyInvalid
from tagtrail.meta.database import Database
from tagtrail.meta.mirrors import OK, UNCHECKED, MirrorRecord
from tagtrail.meta.sql import SqlMetadataStore
from tagtrail.meta.sql_accounts import SqlAccountStore
from tagtrail.meta.sql_mirrors import SqlMirrorStore
from tagtrail.types import RepoName
from tests.meta.contract import manifest

pytestmark = pytest.mark.anyio

PASSWORD = "upstream-pa55-do-not-leak"
HUB = MirrorRecord(
    "hub", "https://registry-1.docker.io", "robot", SecretStr(PASSWORD), check_interval_s=300
)


@pytest.fixture
async def database(store_url: str) -> AsyncIterator[Database]:
    opened = await Database.open(store_url)
    yield opened
    await opened.close()


@pytest.fixture
def box(tmp_path: Path) -> CredentialBox:
    return CredentialBox.load(tmp_path / "keys")


async def test_add_get_list_remove(database: Database, box: CredentialBox) -> None:
    store = SqlMirrorStore(database, box)
    await store.add_mirror(HUB)
    await store.add_mirror(MirrorRecord("quay", "https://quay.io"))
    hub = await store.get_mirror("hub")
    assert hub is not None
    assert (hub.url, hub.username, hub.check_interval_s, hub.status) == (
        HUB.url,
        "robot",
        300,
        UNCHECKED,
    )
    assert hub.password is not None and hub.password.get_secret_value() == PASSWORD
    assert hub.created_ms > 0
    assert [m.prefix for m in await store.list_mirrors()] == ["hub", "quay"]
    quay = await store.get_mirror("quay")
    assert quay is not None and quay.password is None and quay.check_interval_s == 60
    assert await store.set_mirror_status("hub", OK)
    assert (await store.get_mirror("hub")) == MirrorRecord(
        "hub", HUB.url, "robot", hub.password, 300, OK, hub.created_ms
    )
    assert await store.remove_mirror("hub")
    assert not await store.remove_mirror("hub")
    assert not await store.set_mirror_status("hub", OK)
    assert await store.get_mirror("hub") is None


async def test_add_creates_a_private_organisation_and_keeps_an_existing_one(
    database: Database, box: CredentialBox
) -> None:
    store, accounts = SqlMirrorStore(database, box), SqlAccountStore(database)
    await store.add_mirror(HUB)
    org = await accounts.get_organisation("hub")
    assert org is not None and str(org.visibility) == "private"
    await accounts.add_organisation("ghcr", Visibility.parse("public"))
    await store.add_mirror(MirrorRecord("ghcr", "https://ghcr.io"))
    ghcr = await accounts.get_organisation("ghcr")
    assert ghcr is not None and str(ghcr.visibility) == "public"
    # rm forgets the upstream only: the organisation (and what it holds) stays.
    assert await store.remove_mirror("hub")
    assert await accounts.get_organisation("hub") is not None


async def test_add_refuses_a_taken_prefix_or_one_with_repositories(
    database: Database, box: CredentialBox, store_url: str
) -> None:
    store = SqlMirrorStore(database, box)
    await store.add_mirror(HUB)
    with pytest.raises(Conflict, match="hub is a mirror already"):
        await store.add_mirror(MirrorRecord("hub", "https://elsewhere.example"))
    meta = await SqlMetadataStore.open(store_url)
    try:
        await meta.put_manifest(RepoName("acme/app"), manifest(1), None)
        await meta.put_manifest(RepoName("acmeother/app"), manifest(2), None)
    finally:
        await meta.close()
    with pytest.raises(Conflict, match="acme already holds 1 repositories"):
        await store.add_mirror(MirrorRecord("acme", "https://quay.io"))
    assert await store.get_mirror("acme") is None
    # A name that only starts like one (acmeother/...) is no repository of the prefix.
    await store.add_mirror(MirrorRecord("acm", "https://quay.io"))


async def test_update_replaces_url_credentials_and_interval(
    database: Database, box: CredentialBox
) -> None:
    store = SqlMirrorStore(database, box)
    await store.add_mirror(HUB)
    changed = MirrorRecord("hub", "https://mirror.gcr.io", check_interval_s=30)
    assert await store.update_mirror(changed)
    got = await store.get_mirror("hub")
    assert got is not None
    assert (got.url, got.username, got.password, got.check_interval_s) == (
        "https://mirror.gcr.io",
        None,
        None,
        30,
    )
    assert not await store.update_mirror(MirrorRecord("nope", "https://quay.io"))


async def test_the_password_is_sealed_in_the_database(
    database: Database, box: CredentialBox, tmp_path: Path
) -> None:
    await SqlMirrorStore(database, box).add_mirror(HUB)
    async with database.read() as conn:
        rows = (await conn.execute(text("SELECT * FROM mirrors"))).all()
    dump = repr(rows)
    assert PASSWORD not in dump and "robot" in dump
    # Another key file (another data directory) cannot open it: the key is the secret.
    stranger = CredentialBox.load(tmp_path / "other-keys")
    with pytest.raises(CredentialKeyInvalid, match="does not open"):
        await SqlMirrorStore(database, stranger).get_mirror("hub")
    assert PASSWORD not in repr(await SqlMirrorStore(database, box).get_mirror("hub"))


def test_key_file_is_created_once_owner_only_and_checked(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    first = CredentialBox.load(keys)
    path = keys / KEY_FILE
    assert path.stat().st_mode & 0o777 == 0o600
    content = path.read_text()
    sealed = first.seal(SecretStr("s3cret"))
    assert "s3cret" not in sealed
    assert CredentialBox.load(keys).open(sealed).get_secret_value() == "s3cret"
    assert path.read_text() == content  # loaded, not replaced
    # A new key appended seals from then on; the old one still opens what it sealed.
    path.write_text(content + Fernet.generate_key().decode() + "  rotated\n")
    rotated = CredentialBox.load(keys)
    assert rotated.open(sealed).get_secret_value() == "s3cret"
    with pytest.raises(CredentialKeyInvalid):  # sealed with the new key, which first lacks
        first.open(rotated.seal(SecretStr("x")))
    path.write_text("not-a-key\n")
    with pytest.raises(CredentialKeyInvalid, match=f"{KEY_FILE}:1: not a Fernet key"):
        CredentialBox.load(keys)
    path.write_text("# nothing\n")
    with pytest.raises(CredentialKeyInvalid, match="no key"):
        CredentialBox.load(keys)
