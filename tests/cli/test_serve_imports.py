"""What a serving process loads: a registry without mirrors loads neither Alembic
(migrations: a first start's run in a child process), aiohttp (mirrors' blob streams) nor
httpx's command-line client (rich, click, pygments). Every process of a server holds what it
imports (the three, 21 MB of the app's 102), so this is checked in a fresh interpreter,
through what the serving process runs before its workers fork (bootstrap) and what a worker
runs (the app and its lifespan), with a request."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOT_LOADED = ("alembic", "mako", "aiohttp", "yarl", "rich", "click", "pygments")

# Starts the registry of argv[1] in process (tests/inprocess.py: bootstrap, then the app's
# lifespan), asks it for /v2/, then prints which of argv[2]'s modules it loaded.
_PROBE = """
import sys
from pathlib import Path
import tagtrail  # first, as in `python -m tagtrail serve` (tests/inprocess.py imports httpx)
from tests.inprocess import in_process_registry

with in_process_registry(Path(sys.argv[1])) as registry, registry.client() as client:
    assert client.get("/v2/").status_code == 200
print("loaded:", ",".join(m for m in sys.argv[2].split(",") if m in sys.modules))
"""


def _start(data: Path) -> list[str]:
    """The NOT_LOADED modules that a start of ``data``'s registry loaded."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAGTRAIL_")}
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, str(data), ",".join(NOT_LOADED)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("loaded:"), done.stdout
    return [m for m in last.removeprefix("loaded:").strip().split(",") if m]


def test_no_start_loads_migrations_mirrors_or_cli(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert _start(data) == []  # the first: a child process migrated (cli/serve_migrate.py)
    assert _start(data) == []  # the next, on a current schema
