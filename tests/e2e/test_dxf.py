"""python-dxf against tagtrail: blobs pushed from a file and streamed, aliases, pulls, mounts."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import httpx
from dxf import DXF

from tests.e2e.helpers import DOCKER_MANIFEST, sha256_digest
from tests.server import RunningServer


def pull(dxf: DXF, digest: str) -> bytes:
    chunks = dxf.pull_blob(digest)  # verifies the digest as it reads
    assert not isinstance(chunks, tuple)
    return b"".join(chunks)


def test_push_alias_list_pull(
    server: RunningServer, repo: Callable[[str], str], client: httpx.Client, tmp_path: Path
) -> None:
    name = repo("blobs")
    dxf = DXF(server.host, name, insecure=True)
    from_file = tmp_path / "blob.bin"
    from_file.write_bytes(os.urandom(100_000))
    chunks = [os.urandom(7), os.urandom(40_000), os.urandom(1)]
    streamed = b"".join(chunks)

    file_digest = dxf.push_blob(str(from_file))
    # Without a filename dxf streams the chunks in one PUT (chunked transfer encoding).
    stream_digest = dxf.push_blob(data=iter(chunks), digest=sha256_digest(streamed))
    assert file_digest == sha256_digest(from_file.read_bytes())
    assert dxf.blob_size(stream_digest) == len(streamed)

    dxf.set_alias("both", file_digest, stream_digest)
    dxf.set_alias("file", file_digest)
    dxf.set_alias("stream", stream_digest)

    assert sorted(dxf.list_aliases()) == ["both", "file", "stream"]
    assert sorted(dxf.list_aliases(batch_size=1, iterate=True)) == ["both", "file", "stream"]
    assert dxf.get_alias("both") == [file_digest, stream_digest]
    assert pull(dxf, file_digest) == from_file.read_bytes()
    assert pull(dxf, stream_digest) == streamed
    got = client.get(f"/v2/{name}/manifests/both", headers={"Accept": DOCKER_MANIFEST})
    assert got.status_code == 200
    assert got.headers["content-type"] == DOCKER_MANIFEST

    # Mount into another repository of the same registry, then pull from there.
    other = DXF(server.host, repo("other"), insecure=True)
    assert other.mount_blob(name, file_digest) == file_digest
    assert pull(other, file_digest) == from_file.read_bytes()

    assert dxf.del_alias("stream") == [stream_digest]
    assert sorted(dxf.list_aliases()) == ["both", "file"]
    assert hashlib.sha256(pull(dxf, stream_digest)).hexdigest() == stream_digest[7:]
