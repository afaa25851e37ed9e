"""Helpers for the client CLI tests: run ``tagtrail`` in-process, push tag moves, read the
server's database."""

from __future__ import annotations

import contextlib
import io
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tagtrail.cli.main import main
from tests.api.helpers import OCI_MANIFEST, encode, image_manifest, sha256
from tests.server import RunningServer
from tests.ssl_context import SHARED


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@contextlib.contextmanager
def _environment(env: Mapping[str, str | None]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in env}
    try:
        for key, value in env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_cli(*args: str, env: Mapping[str, str | None] | None = None, stdin: str = "") -> Result:
    """``tagtrail ARGS`` in this process, with ``env`` overrides and ``stdin``."""
    out, err = io.StringIO(), io.StringIO()
    saved_stdin = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        with (
            _environment(env or {}),
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
        ):
            try:
                code = main(list(args))
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.stdin = saved_stdin
    return Result(code, out.getvalue(), err.getvalue())


def run_process(*args: str, env: Mapping[str, str] | None = None, stdin: str = "") -> Result:
    """``tagtrail ARGS`` as a separate process (the installed entry point's behaviour)."""
    completed = subprocess.run(
        [sys.executable, "-m", "tagtrail", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        check=False,
    )
    return Result(completed.returncode, completed.stdout, completed.stderr)


def assert_one_line_error(result: Result, *fragments: str) -> None:
    """A non-zero exit with one ``tagtrail: ...`` line on stderr holding ``fragments``."""
    assert result.code != 0, result
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("tagtrail: "), result.err
    assert "Traceback" not in result.err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


# -- pushing ----------------------------------------------------------------------------------

CONFIG = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'


def ensure_config(client: httpx.Client, name: str, config: bytes = CONFIG) -> str:
    digest = sha256(config)
    response = client.post(f"/v2/{name}/blobs/uploads/", params={"digest": digest}, content=config)
    assert response.status_code == 201, response.text
    return digest


def small_manifest(label: str, config: bytes = CONFIG) -> bytes:
    """A distinct, deterministic image manifest for ``label`` (config only, no layers)."""
    return image_manifest(config, [], annotations={"org.example.label": label})


def put_tag(
    client: httpx.Client, name: str, tag: str, body: bytes, media_type: str = OCI_MANIFEST
) -> str:
    response = client.put(
        f"/v2/{name}/manifests/{tag}", content=body, headers={"Content-Type": media_type}
    )
    assert response.status_code == 201, response.text
    digest: str = response.headers["docker-content-digest"]
    assert digest == sha256(body)
    return digest


def push_moves(
    client: httpx.Client, name: str, tag: str, count: int, prefix: str = ""
) -> list[str]:
    """Point ``tag`` at ``count`` distinct manifests in turn; their digests in order."""
    ensure_config(client, name)
    return [
        put_tag(client, name, tag, small_manifest(f"{prefix}{name}:{tag}#{i}"))
        for i in range(count)
    ]


def index_of(children: Mapping[str, bytes]) -> bytes:
    """An OCI index of the given ``platform -> manifest`` children."""
    manifests = []
    for platform, body in children.items():
        os_name, _, architecture = platform.partition("/")
        manifests.append(
            {
                "mediaType": OCI_MANIFEST,
                "digest": sha256(body),
                "size": len(body),
                "platform": {"architecture": architecture, "os": os_name},
            }
        )
    return encode(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": manifests,
        }
    )


# -- the server's database ---------------------------------------------------------------------


@dataclass(frozen=True)
class DbRecord:
    ts_ms: int
    digest: str
    event: str


def db_history(server: RunningServer, name: str, tag: str) -> list[DbRecord]:
    """The tag's history as the server's SQLite database holds it, oldest first."""
    with contextlib.closing(sqlite3.connect(server.data_dir / "tagtrail.db")) as db:
        rows = db.execute(
            "SELECT h.ts_ms, h.digest, h.event FROM tag_history h "
            "JOIN repositories r ON r.id = h.repository_id "
            "WHERE r.name = ? AND h.tag = ? ORDER BY h.ts_ms",
            (name, tag),
        ).fetchall()
    return [DbRecord(int(ts), str(digest), str(event)) for ts, digest, event in rows]


def docker_config(directory: Path, document: Mapping[str, Any]) -> dict[str, str]:
    """Write ``config.json`` into ``directory``; the environment that points docker at it."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(document))
    return {"DOCKER_CONFIG": str(directory)}


# -- a tag moved across three history pages ---------------------------------------------------

MOVES = 2100  # three pages of at most 1000


@dataclass(frozen=True)
class Moved:
    ref: str
    name: str
    tag: str
    digests: list[str]
    db: list[DbRecord]


def move_many(registry: RunningServer, name: str, tag: str = "latest") -> Moved:
    """``name:tag`` moved MOVES times, checked against the server's database. Some 15 s of
    pushes: made once for the package (tests/client/conftest.py's ``moved``)."""
    with httpx.Client(base_url=registry.url, timeout=30, verify=SHARED) as client:
        digests = push_moves(client, name, tag, MOVES)
    db = db_history(registry, name, tag)
    assert [r.digest for r in db] == digests
    assert {r.event for r in db} == {"created"}
    return Moved(f"{registry.host}/{name}:{tag}", name, tag, digests, db)
