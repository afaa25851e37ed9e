"""A database and a blob storage that are not a pair (``tagtrail.meta.garbage``): real
``tagtrail serve`` processes refuse to start on them and ``tagtrail gc`` refuses to run, before
deleting anything; on the pair that belongs together, both proceed. Filesystem and S3 (RGW)
storage, SQLite and PostgreSQL databases. gc runs in this process (``tests.cli.helpers``: the
command's own code, without a process start-up each), the servers as processes."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tagtrail.meta.database import Database
from tests.api.helpers import random_bytes, sha256
from tests.cli.helpers import tagtrail
from tests.postgres import fresh_database
from tests.reliability.test_gc import push_image
from tests.reliability.test_gc_orphans import blob_key, plant_file
from tests.s3 import S3Endpoint
from tests.server import start_server
from tests.ssl_context import SHARED

BACKENDS = ["sqlite", "postgresql"]


def refused_start(data_dir: Path, env: dict[str, str]) -> str:
    """What a server that must refuse to start printed (and that it exited with 1)."""
    with pytest.raises(RuntimeError, match="tagtrail exited with") as failed:
        start_server(data_dir, env=env)
    message = str(failed.value)
    assert message.startswith("tagtrail exited with 1:"), message
    assert "Traceback" not in message
    return message


async def _migrate(url: str) -> None:
    opened = await Database.open(url, migrate=True)
    await opened.close()


@contextmanager
def database(backend: str, path: Path) -> Iterator[str]:
    """A database URL of ``backend``, migrated (as staging's would be): empty, but at head.
    Migrated in this process: ``db upgrade`` as a process is tests/cli's subject."""
    if backend == "sqlite":
        url = f"sqlite:///{path}"
        asyncio.run(_migrate(url))
        yield url
        return
    with fresh_database() as url:
        asyncio.run(_migrate(url))
        yield url


def test_first_start_marks_the_storage_and_a_new_database_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = start_server(data)
    try:
        with httpx.Client(base_url=server.url, timeout=30, verify=SHARED) as http:
            manifest, _ = push_image(http, "marked/app", "latest")
    finally:
        server.stop()
    marker = (data / "store-identity").read_text().strip()
    with sqlite3.connect(data / "tagtrail.db") as db:
        assert db.execute("SELECT identity FROM store_identity").fetchall() == [(marker,)]
    assert f"marked the blob storage ({data}) as store {marker}" in server.log()

    again = start_server(data)  # the same pair: starts, and leaves the marker as it was
    again.stop()
    assert "marked the blob storage" not in again.log()

    # A typo in the database URL: SQLite makes a new, empty database there.
    typo = {"TAGTRAIL_DATABASE_URL": f"sqlite:///{tmp_path / 'tagtrial.db'}"}
    message = refused_start(data, typo)
    assert "tagtrail: refusing to start: the blob storage belongs to store " + marker in message
    with sqlite3.connect(tmp_path / "tagtrial.db") as db:
        ((new,),) = db.execute("SELECT identity FROM store_identity").fetchall()
    assert f"this database is store {new}" in message
    assert f"database:     sqlite:///{tmp_path / 'tagtrial.db'} (store {new})" in message
    assert f"blob storage: {data} (marker: {marker})" in message
    assert (data / "store-identity").read_text().strip() == marker

    final = start_server(data)
    try:
        with httpx.Client(base_url=final.url, timeout=30, verify=SHARED) as http:
            assert http.get(f"/v2/marked/app/manifests/{manifest}").status_code == 200
    finally:
        final.stop()


def test_storage_from_before_markers_is_marked_on_first_start(tmp_path: Path) -> None:
    """An upgraded deployment has blobs and no marker: its first start writes one, and gc then
    runs as before."""
    data = tmp_path / "data"
    server = start_server(data)
    try:
        with httpx.Client(base_url=server.url, timeout=30, verify=SHARED) as http:
            manifest, layer = push_image(http, "upgraded/app", "latest")
    finally:
        server.stop()
    (data / "store-identity").unlink()  # as the previous version left the storage

    server = start_server(data)
    try:
        assert "marked the blob storage" in server.log()
        collected = tagtrail("gc", "--data-dir", str(data), env={})
        assert collected.returncode == 0, collected.stderr
        with httpx.Client(base_url=server.url, timeout=30, verify=SHARED) as http:
            assert http.get(f"/v2/upgraded/app/manifests/{manifest}").status_code == 200
            assert http.get(f"/v2/upgraded/app/blobs/{layer}").status_code == 200
    finally:
        server.stop()


@pytest.mark.parametrize("backend", BACKENDS)
def test_gc_with_another_database_refuses_and_deletes_nothing_on_the_filesystem(
    tmp_path: Path, backend: str
) -> None:
    data = tmp_path / "data"
    with (
        database(backend, tmp_path / "own.db") as own,
        database(backend, tmp_path / "staging.db") as staging,
    ):
        server = start_server(data, env={"TAGTRAIL_DATABASE_URL": own})
        try:
            with httpx.Client(base_url=server.url, timeout=30, verify=SHARED) as http:
                manifest, layer = push_image(http, "pair/app", "latest")
            orphan = random_bytes(2345)
            plant_file(data / blob_key(sha256(orphan)), orphan, old=True)
            marker = (data / "store-identity").read_text().strip()

            for flags in (["--dry-run"], []):
                wrong = tagtrail(
                    "gc", "--data-dir", str(data), *flags, env={"TAGTRAIL_DATABASE_URL": staging}
                )
                assert wrong.returncode == 1, wrong.stdout
                assert wrong.stdout == ""
                assert (
                    "gc refused, nothing was deleted: the blob storage belongs to store " + (marker)
                    in wrong.stderr
                )
                assert f"blob storage: {data} (marker: {marker})" in wrong.stderr
                assert "Traceback" not in wrong.stderr
            assert (data / blob_key(sha256(orphan))).is_file()
            assert (data / blob_key(layer)).is_file()

            right = tagtrail("gc", "--data-dir", str(data), env={"TAGTRAIL_DATABASE_URL": own})
            assert right.returncode == 0, right.stderr
            assert f"removed orphaned blob bytes {sha256(orphan)} (2.3 kB)" in right.stdout
            assert not (data / blob_key(sha256(orphan))).exists()
            with httpx.Client(base_url=server.url, timeout=30, verify=SHARED) as http:
                assert http.get(f"/v2/pair/app/manifests/{manifest}").status_code == 200
                assert http.get(f"/v2/pair/app/blobs/{layer}").status_code == 200
        finally:
            server.stop()

        message = refused_start(data, {"TAGTRAIL_DATABASE_URL": staging})
        assert f"the blob storage belongs to store {marker}" in message


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_bucket_is_refused_to_another_database_and_gc_deletes_nothing_on_s3(
    tmp_path: Path, s3: S3Endpoint, backend: str
) -> None:
    """Staging's database with production's bucket: staging's server refuses to start, gc on
    that pair refuses; production's own gc proceeds."""
    bucket = s3.new_bucket()
    store = {"TAGTRAIL_BLOB_STORE": "s3", "TAGTRAIL_S3": json.dumps(s3.settings(bucket))}
    client = s3.client()

    def stored(key: str) -> bool:
        return bool(client.list_objects_v2(Bucket=bucket, Prefix=key).get("Contents"))

    with (
        database(backend, tmp_path / "prod.db") as prod,
        database(backend, tmp_path / "staging.db") as staging,
    ):
        production = {**store, "TAGTRAIL_DATABASE_URL": prod}
        wrong = {**store, "TAGTRAIL_DATABASE_URL": staging}
        server = start_server(tmp_path / "prod", env=production)
        try:
            with httpx.Client(base_url=server.url, timeout=30, verify=SHARED) as http:
                _, layer = push_image(http, "bucket/app", "latest")
            marker = client.get_object(Bucket=bucket, Key="store-identity")["Body"].read()
            marker = marker.decode().strip()
            assert f"marked the blob storage (s3://{bucket}/) as store {marker}" in server.log()
            orphan = random_bytes(3456)
            client.put_object(Bucket=bucket, Key=blob_key(sha256(orphan)), Body=orphan)

            message = refused_start(tmp_path / "staging", wrong)
            assert f"the blob storage belongs to store {marker}" in message
            assert f"blob storage: s3://{bucket}/ (marker: {marker})" in message

            refused = tagtrail(
                "gc", "--data-dir", str(tmp_path / "staging"), "--grace-seconds", "0", env=wrong
            )
            assert refused.returncode == 1, refused.stdout
            assert "gc refused, nothing was deleted" in refused.stderr
            assert f"(marker: {marker})" in refused.stderr
            assert stored(blob_key(sha256(orphan)))
            assert stored(blob_key(layer))

            own = tagtrail(
                "gc", "--data-dir", str(tmp_path / "prod"), "--grace-seconds", "0", env=production
            )
            assert own.returncode == 0, own.stderr
            assert f"removed orphaned blob bytes {sha256(orphan)} (3.5 kB)" in own.stdout
            assert not stored(blob_key(sha256(orphan)))
            assert stored(blob_key(layer))
            assert stored("store-identity")
        finally:
            server.stop()
