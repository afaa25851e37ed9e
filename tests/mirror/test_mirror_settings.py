"""Mirrors from the TOML settings (``[[mirrors]]``), registered by ``serve`` at start, and the
writes a real server then refuses under a mirror's prefix (403 DENIED, "mirror of <url>")."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from tagtrail.cli.mirror_actions import register_configured
from tagtrail.config import MirrorSettings, load_settings
from tagtrail.meta.credentials import CredentialBox
from tagtrail.meta.database import Database
from tagtrail.meta.mirrors import OK, UNCHECKED
from tagtrail.meta.sql_mirrors import SqlMirrorStore
from tests.auth.cli import admin
from tests.mirror.upstreams import Distribution, push_blob, push_image, sha256
from tests.server import free_port, start_server

TOML_SECRET = "toml-secret-4e1d"


def _denied(response: httpx.Response, url: str) -> None:
    assert response.status_code == 403, response.text
    (error,) = response.json()["errors"]
    assert (error["code"], error["message"]) == ("DENIED", f"mirror of {url}")
    name = "/".join(response.request.url.path.split("/")[2:4])  # /v2/<org>/<repo>/...
    assert error["detail"] == {"name": name}


def test_settings_register_mirrors_and_writes_into_them_are_denied(
    tmp_path: Path, distribution: Distribution
) -> None:
    config = tmp_path / "tagtrail.toml"
    config.write_text(
        f'[[mirrors]]\nprefix = "dist"\nurl = "{distribution.url}"\ncheck_interval = "5m"\n\n'
        '[[mirrors]]\nprefix = "vendor"\nurl = "https://registry.example"\n'
        f'username = "robot"\npassword = "{TOML_SECRET}"\n'
    )
    data = tmp_path / "data"
    server = start_server(data, "--config", str(config))
    try:
        assert f"mirror dist: registered {distribution.url} from the settings" in server.log()
        listed = admin(data, "mirror", "list").splitlines()
        # The server's status check (registry.mirror_loop) may have asked dist's /v2/ already.
        dist = f"dist  {distribution.url}  anonymous  every 300 s"
        assert listed[0] in (f"{dist}  unchecked", f"{dist}  ok")
        assert listed[1:] == ["vendor  https://registry.example  robot  every 60 s  unchecked"]
        with httpx.Client(base_url=server.url, timeout=30) as http:
            pushed = push_image(http, "other/app", "v1")
            layer = sha256(pushed.layers[0])
            url = distribution.url
            _denied(http.post("/v2/dist/app/blobs/uploads/"), url)
            _denied(http.post(f"/v2/dist/app/blobs/uploads/?digest={layer}", content=b"x"), url)
            _denied(http.post(f"/v2/dist/app/blobs/uploads/?mount={layer}&from=other/app"), url)
            put = http.put(
                "/v2/dist/app/manifests/v1",
                content=pushed.manifest,
                headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
            )
            _denied(put, url)
            _denied(http.delete(f"/v2/dist/app/manifests/{pushed.digest}"), url)
            _denied(http.delete("/v2/dist/app/manifests/v1"), url)
            _denied(http.delete(f"/v2/dist/app/blobs/{layer}"), url)
            _denied(http.post("/v2/vendor/x/blobs/uploads/"), "https://registry.example")
            # Reads are no writes: a pull of what is not there is the usual 404.
            assert http.get("/v2/dist/app/manifests/v1").status_code == 404
            # Forgotten with the CLI while the server runs: pushes work again within seconds.
            admin(data, "mirror", "rm", "dist")
            deadline = time.monotonic() + 10
            while http.post("/v2/dist/app/blobs/uploads/").status_code == 403:
                assert time.monotonic() < deadline, "still refused after mirror rm"
                time.sleep(0.3)
            push_blob(http, "dist/app", b"mine now")
        assert TOML_SECRET not in server.log()
    finally:
        server.stop()


def _start_fails(tmp_path: Path, config: str, code: int = 1) -> str:
    """The one line of a ``serve`` that stops: 1 for what registering refuses, 2 for what the
    settings themselves refuse (as every settings error)."""
    path = tmp_path / "bad.toml"
    path.write_text(config)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TAGTRAIL_")}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tagtrail",
            "serve",
            "--no-auth",
            "--config",
            str(path),
            "--data-dir",
            str(tmp_path / "data"),
            "--listen",
            f"127.0.0.1:{free_port()}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=clean,
    )
    assert (result.returncode, result.stdout) == (code, ""), result
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert TOML_SECRET not in result.stderr
    return result.stderr.strip()


@pytest.mark.parametrize(
    ("table", "message", "code"),
    [
        ('prefix = "a/b"\nurl = "https://quay.io"', "mirror prefix 'a/b': one lowercase name", 1),
        ('prefix = "q"\nurl = "https://u:p@quay.io"', "no user or password in it", 1),
        (f'prefix = "q"\nurl = "https://quay.io"\npassword = "{TOML_SECRET}"', "or neither", 2),
        ('prefix = "q"\nurl = "https://quay.io"\ncheck_interval = "soon"', "not a duration", 2),
    ],
)
def test_a_bad_mirror_table_stops_the_start_in_one_line(
    tmp_path: Path, table: str, message: str, code: int
) -> None:
    assert message in _start_fails(tmp_path, f"[[mirrors]]\n{table}\n", code)


def test_a_prefix_given_twice_stops_the_start(tmp_path: Path) -> None:
    table = '[[mirrors]]\nprefix = "q"\nurl = "https://quay.io"\n'
    assert "prefix q given more than once" in _start_fails(tmp_path, table + table, 2)


def test_a_restart_with_other_values_updates_the_mirror(tmp_path: Path) -> None:
    async def run() -> None:
        data = tmp_path / "data"
        data.mkdir()
        database = await Database.open(f"sqlite:///{data / 'tagtrail.db'}")
        store = SqlMirrorStore(database, CredentialBox.load(data / "keys"))
        try:
            first = MirrorSettings(
                prefix="q",
                url="https://quay.io",
                username="u",
                password=SecretStr("one"),
                check_interval=60,
            )
            await register_configured(database, load_settings(data_dir=data, mirrors=[first]))
            await store.set_mirror_status("q", OK)
            # The same values again: nothing changes, the status stays.
            await register_configured(database, load_settings(data_dir=data, mirrors=[first]))
            kept = await store.get_mirror("q")
            assert kept is not None and kept.status == OK
            # Only the interval: updated, the status stays (the upstream is the same).
            slower = first.model_copy(update={"check_interval": 600})
            await register_configured(database, load_settings(data_dir=data, mirrors=[slower]))
            got = await store.get_mirror("q")
            assert got is not None and (got.check_interval_s, got.status) == (600, OK)
            # Another password: the upstream has to be checked again.
            other = slower.model_copy(update={"password": SecretStr("two")})
            await register_configured(database, load_settings(data_dir=data, mirrors=[other]))
            got = await store.get_mirror("q")
            assert got is not None and got.status == UNCHECKED
            assert got.password is not None and got.password.get_secret_value() == "two"
        finally:
            await database.close()

    asyncio.run(run())
